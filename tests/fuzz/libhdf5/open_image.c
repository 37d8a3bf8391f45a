/* open_image.c - reproducer of the libhdf5 1.10.8 leak fuzz_ckpt found in OT_FUZZ_RAW mode: a
 * damaged file image (leak-open-close.h5, a mutated checkpoint) that H5Fopen accepts through
 * the core driver, and whose H5Fclose (then H5close) leaves 56 bytes allocated. Not built by
 * make; see README.md:
 *   clang -g -fsanitize=address $(pkg-config --cflags hdf5) open_image.c -o open_image \
 *       $(pkg-config --libs hdf5)
 *   ./open_image leak-open-close.h5      # LeakSanitizer: 56 byte(s) leaked
 *   ./open_image ../corpus/ckpt/mid-epoch.h5   # no report */
#include <hdf5.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    static unsigned char buf[1 << 20];
    FILE *fp = argc == 2 ? fopen(argv[1], "rb") : NULL;
    if (!fp) {
        fprintf(stderr, "usage: open_image FILE.h5\n");
        return 2;
    }
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    H5Pset_file_image(fapl, buf, n);
    hid_t f = H5Fopen("image.h5", H5F_ACC_RDONLY, fapl);
    printf("open %s\n", f >= 0 ? "ok" : "failed");
    if (f >= 0)
        H5Fclose(f);
    H5Pclose(fapl);
    H5close();
    return 0;
}
