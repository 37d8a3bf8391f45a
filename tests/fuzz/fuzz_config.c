/* fuzz_config.c - libFuzzer target for the configuration parser.
 *
 * The input is written to a memfd and loaded as a config file through its /proc/self/fd path
 * (ot_config_load takes a path; no refactoring needed). When it loads:
 *   - ot_config_check must not crash, whatever it decides;
 *   - ot_config_to_ini must produce text that loads again, and writing that second config must
 *     give the same text (the writer and the parser agree on every value they accept).
 * Each line of the input is also applied as a "--set section.key=value" override, to the
 * defaults and, when the file loaded, to the loaded config; an accepted override must leave a
 * config whose INI text round-trips the same way.
 * Any violated property aborts, which libFuzzer reports as a crash. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_NAME "fuzz_config"
#include "fuzz_util.h"

#include "ot_common.h"
#include "ot_config.h"

static int fd_in = -1, fd_ini = -1;
static char path_in[64], path_ini[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fd_in = open_memfd("config.ini", path_in, sizeof path_in);
    fd_ini = open_memfd("written.ini", path_ini, sizeof path_ini);
    return 0;
}

/* c was accepted: its INI text must load, and the loaded config must write the same text. */
static void round_trip(const ot_config_t *c)
{
    char *text = ot_config_to_ini(c);
    if (!text)
        die("ot_config_to_ini returned NULL");
    put(fd_ini, text, strlen(text));
    ot_config_t again;
    ot_config_defaults(&again);
    if (ot_config_load(&again, path_ini) != OT_OK) {
        fprintf(stderr, "written config does not load:\n%s", text);
        die("round trip failed");
    }
    char *text2 = ot_config_to_ini(&again);
    if (!text2)
        die("ot_config_to_ini returned NULL");
    if (strcmp(text, text2) != 0) {
        fprintf(stderr, "first:\n%s\nsecond:\n%s", text, text2);
        die("round trip changed the config");
    }
    (void)ot_config_check(&again);
    free(text);
    free(text2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ot_config_t c, d;
    put(fd_in, data, size);
    ot_config_defaults(&c);
    int loaded = ot_config_load(&c, path_in) == OT_OK;
    if (loaded) {
        (void)ot_config_check(&c);
        round_trip(&c);
    }

    /* every line as an override: NUL-terminated copies, at most 64 lines per input */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *save = NULL;
    int lines = 0;
    for (char *line = strtok_r(text, "\n", &save); line && lines < 64;
         line = strtok_r(NULL, "\n", &save), lines++) {
        ot_config_defaults(&d);
        if (ot_config_set(&d, line) == OT_OK) {
            (void)ot_config_check(&d);
            round_trip(&d);
        }
        if (loaded && ot_config_set(&c, line) == OT_OK)
            round_trip(&c);
    }
    free(text);
    return 0;
}
