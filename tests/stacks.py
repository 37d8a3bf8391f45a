#!/usr/bin/env python3
"""stacks.py SEED [H W C PREFIX] - a random but valid omptrain config for
tests/random_stacks.sh: a layer stack on MNIST's 1x28x28 images (or on the H x W x C images
of PREFIX-train.h5 and PREFIX-test.h5, datasets data and label) (convolutions of any kernel, stride and padding the config
accepts, Winograd ones, max and average pooling, batch norm, dropout, ReLU, sigmoid, flatten,
Affines) closing with an Affine to the 10 classes, with a random optimizer, init, batch size,
shard count (never 0: the runs compare bits across thread counts), augmentation and sparse
input switch. The same seed gives the same config: the stack's shapes are tracked here, so
every config is one omptrain must accept."""
import random
import sys


def conv(r, h, w):
    kh, kw = r.randint(1, 5), r.randint(1, 5)
    s, p, f = r.randint(1, 3), r.randint(0, 3), r.randint(1, 9)
    if kh > h + 2 * p or kw > w + 2 * p:
        return None
    # a stride may leave out only padding
    if (h + 2 * p - kh) % s > p or (w + 2 * p - kw) % s > p:
        return None
    wino = ''
    if kh == 3 and kw == 3 and s == 1 and p <= 2 and r.random() < 0.3:
        wino = ' ' + r.choice(['winograd', 'winograd4'])
    oh, ow = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    return f'conv {f} {kh}x{kw} stride {s} pad {p}{wino}', oh, ow


def pool(r, kind, h, w):
    k, s = r.randint(1, 3), r.randint(1, 3)
    if k > h or k > w or (h - k) % s or (w - k) % s:
        return None
    return f'{kind} {k} stride {s}', (h - k) // s + 1, (w - k) // s + 1


def stack(r, h, w):
    """The layers, and whether a batch norm in them sees one value per sample (a vector, or a
    1x1 image): a batch of 1 is refused there."""
    layers, vector_bn = [], False
    for _ in range(r.randint(0, 3) + r.randint(0, 2)):
        kind = r.choice(['conv', 'conv', 'maxpool', 'avgpool', 'bn', 'act', 'drop'])
        if kind == 'conv' or kind.endswith('pool'):
            got = conv(r, h, w) if kind == 'conv' else pool(r, kind, h, w)
            if got:
                layers.append(got[0])
                h, w = got[1], got[2]
        elif kind == 'bn':
            layers.append('batchnorm')
            vector_bn |= h * w == 1
        elif kind == 'act':
            layers.append(r.choice(['relu', 'sigmoid']))
        else:
            layers.append(f'dropout {r.choice([0.1, 0.25, 0.5])}')
    if r.random() < 0.3:
        layers.append('flatten')
    for _ in range(r.randint(0, 2)):
        layers.append(f'affine {r.randint(1, 40)}')
        if r.random() < 0.3:
            layers.append('batchnorm')
            vector_bn = True
        layers.append(r.choice(['relu', 'sigmoid']))
        if r.random() < 0.2:
            layers.append('dropout 0.3')
    layers.append('affine 10')
    return ', '.join(layers), vector_bn


def main():
    r = random.Random(int(sys.argv[1]))
    opt = r.choice(['sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw'])
    limit = r.choice([64, 150, 203])
    if len(sys.argv) > 2:
        h, w, prefix = int(sys.argv[2]), int(sys.argv[3]), sys.argv[5]
        data = f"train_file = {prefix}-train.h5\ntest_file = {prefix}-test.h5"
    else:
        h = w = 28
        data = """train_images = data/mnist/train-images-idx3-ubyte.gz
train_labels = data/mnist/train-labels-idx1-ubyte.gz
test_images = data/mnist/t10k-images-idx3-ubyte.gz
test_labels = data/mnist/t10k-labels-idx1-ubyte.gz"""
    layers, vector_bn = stack(r, h, w)
    init = r.choice(['he', 'xavier', 'std'])
    batch = r.choice([1, 7, 32, 50])
    if batch == 1 and vector_bn:  # batch norm over one value a feature: refused
        batch = 2
    print(f"""[data]
{data}
classes = 10
train_limit = {limit}
test_limit = 50

[model]
layers = {layers}
init = {init}

[training]
epochs = 1
batch_size = {batch}
shards = {r.choice([1, 3, 8])}
seed = {r.randint(1, 1000)}
optimizer = {opt}
learning_rate = 0.001
sparse_input = {r.choice(['true', 'false'])}
augment_shift = {r.choice([0, 0, 2])}
""")


if __name__ == '__main__':
    main()
