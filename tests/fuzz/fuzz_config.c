/* fuzz_config.c - libFuzzer target for the configuration parser.
 *
 * The input is written to a memfd and loaded as a config file through its /proc/self/fd path
 * (ot_config_load takes a path; no refactoring needed). When it loads:
 *   - ot_config_check must not crash, whatever it decides;
 *   - ot_config_to_ini must produce text that loads again; the same text with the keys it wrote
 *     as comments (those the config's choices leave unused) uncommented must load too and
 *     write the very same text (the writer and the parser agree on every value they accept,
 *     and the comments lose none); and the config loaded from the text as written must write
 *     a text that is stable from then on.
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

/* text with the "; " that comments out a key removed at the start of every line (malloc'd). */
static char *uncommented(const char *text)
{
    char *out = malloc(strlen(text) + 1), *o = out;
    if (!out)
        die("out of memory");
    for (const char *p = text; *p;) {
        if ((p == text || p[-1] == '\n') && strncmp(p, "; ", 2) == 0)
            p += 2;
        *o++ = *p++;
    }
    *o = '\0';
    return out;
}

/* text, written to the second memfd, loaded into a default config at *out; dies otherwise. */
static void load_text(const char *text, ot_config_t *out)
{
    put(fd_ini, text, strlen(text));
    ot_config_defaults(out);
    if (ot_config_load(out, path_ini) != OT_OK) {
        fprintf(stderr, "written config does not load:\n%s", text);
        die("round trip failed");
    }
}

static char *to_ini(const ot_config_t *c)
{
    char *text = ot_config_to_ini(c);
    if (!text)
        die("ot_config_to_ini returned NULL");
    return text;
}

static void same_text(const char *a, const char *b, const char *what)
{
    if (strcmp(a, b) != 0) {
        fprintf(stderr, "first:\n%s\nsecond:\n%s", a, b);
        die(what);
    }
}

/* c was accepted: its INI text must load, uncommented it must give back the same text, and
 * the config loaded from it must write a text that reads back to itself. */
static void round_trip(const ot_config_t *c)
{
    ot_config_t full, again, third;
    char *text = to_ini(c), *whole = uncommented(text);
    load_text(whole, &full);
    char *text_full = to_ini(&full);
    same_text(text, text_full, "round trip changed the config");
    load_text(text, &again);
    char *text2 = to_ini(&again);
    load_text(text2, &third);
    char *text3 = to_ini(&third);
    same_text(text2, text3, "the text of a config read back from its own text changed");
    (void)ot_config_check(&again);
    free(text);
    free(whole);
    free(text_full);
    free(text2);
    free(text3);
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
