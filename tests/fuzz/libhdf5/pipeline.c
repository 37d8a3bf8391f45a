/* pipeline.c - reproducer of the libhdf5 1.10.8 crashes fuzz_h5data.c found: a dataset whose
 * filter pipeline puts scale-offset after deflate, or after fletcher32, written by libhdf5
 * itself and read back. Not built by make; see README.md:
 *   clang -g -fsanitize=address $(pkg-config --cflags hdf5) pipeline.c -o pipeline \
 *       $(pkg-config --libs hdf5)
 *   ./pipeline CODE TYPE CHUNK
 * CODE: the filters in pipeline order, S shuffle, D deflate, F fletcher32, O scale-offset,
 * N n-bit; TYPE: 0 int8, 1 int32, 2 float32; CHUNK: elements per chunk (1..4) of a dataset of
 * 4 elements. Exit 0: read back; 3, 4, 5: HDF5 refused to create, write or read (no crash).
 * The file stays in memory (the core driver without a backing store). */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: pipeline CODE TYPE CHUNK\n");
        return 2;
    }
    const char *code = argv[1];
    int ty = atoi(argv[2]);
    hsize_t chunk = (hsize_t)atoi(argv[3]), n = 4;
    hid_t t = ty == 0 ? H5T_NATIVE_INT8 : ty == 1 ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    hid_t f = H5Fcreate("pipeline.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    for (const char *c = code; *c; c++) {
        switch (*c) {
        case 'S': H5Pset_shuffle(dcpl); break;
        case 'D': H5Pset_deflate(dcpl, 6); break;
        case 'F': H5Pset_fletcher32(dcpl); break;
        case 'O':
            H5Pset_scaleoffset(dcpl, ty == 2 ? H5Z_SO_FLOAT_DSCALE : H5Z_SO_INT, ty == 2 ? 3 : 2);
            break;
        case 'N': H5Pset_nbit(dcpl); break;
        default: return 2;
        }
    }
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "d", t, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0)
        return 3;
    unsigned char buf[64];
    memset(buf, 1, sizeof buf);
    if (H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        return 4;
    H5Dclose(d);
    H5Fflush(f, H5F_SCOPE_GLOBAL);
    d = H5Dopen2(f, "d", H5P_DEFAULT);
    unsigned char *out = malloc(16);
    herr_t r = H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    free(out);
    return r < 0 ? 5 : 0;
}
