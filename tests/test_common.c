/* test_common.c - error reporting and shell words (src/common.c): ot_error's "omptrain: " line, on a line of
 * its own after a progress line (ot_status_line); held messages
 * (ot_error_hold, as on the processes of a run other than the first) are not printed, then
 * printed once each with the process's name by ot_error_release(1, WHO), or dropped by
 * ot_error_release(0, ...) and not printed later. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_test.h"

static void test_common_error_hold(void)
{
    ot_test_capture_begin();
    ot_error("first %d", 1);
    char *out = ot_test_capture_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out, "omptrain: first 1\n");
    free(out);

    /* held, then released with the process's name */
    ot_test_capture_begin();
    ot_error_hold(1);
    ot_error("a %s", "config error");
    ot_error("second line");
    char *held = ot_test_capture_end();
    ot_test_capture_begin();
    ot_error_release(1, "process 2 of 3 on h");
    ot_error_hold(0);
    char *released = ot_test_capture_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(held);
    CU_ASSERT_PTR_NOT_NULL_FATAL(released);
    CU_ASSERT_STRING_EQUAL(held, "");
    CU_ASSERT_STRING_EQUAL(released, "omptrain: process 2 of 3 on h: a config error\n"
                                     "omptrain: process 2 of 3 on h: second line\n");
    free(held);
    free(released);

    /* held, then dropped: nothing now, nothing at the next release */
    ot_test_capture_begin();
    ot_error_hold(1);
    ot_error("dropped");
    ot_error_release(0, NULL);
    ot_error_release(1, NULL);
    ot_error_hold(0);
    ot_error("after");
    out = ot_test_capture_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out, "omptrain: after\n");
    free(out);

    /* more than the 4 KiB kept: cut, never past the buffer, and the hold still works */
    ot_test_capture_begin();
    ot_error_hold(1);
    char big[1500];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 5; i++)
        ot_error("%s", big);
    ot_error_release(1, NULL);
    ot_error_hold(0);
    out = ot_test_capture_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    size_t lines = 0;
    for (const char *p = out; (p = strchr(p, '\n')); p++)
        lines++;
    CU_ASSERT(lines >= 2 && lines <= 5);
    CU_ASSERT(strlen(out) < 4096 + lines * strlen("omptrain: \n"));
    free(out);
}

/* ot_param_part: T parts that tile [0, n) in order, cut at multiples of 16 (the end at n),
 * none more than a line from n / T; more threads than lines leave some parts empty. */
static void test_param_part(void)
{
    const size_t ns[] = {0, 1, 15, 16, 17, 1000, 79510, 1863690};
    const size_t Ts[] = {1, 2, 3, 7, 16, 64};
    int ok = 1;
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t j = 0; j < sizeof Ts / sizeof Ts[0]; j++) {
            const size_t n = ns[i], T = Ts[j];
            size_t end = 0;
            for (size_t t = 0; t < T; t++) {
                size_t a, b;
                ot_param_part(n, T, t, &a, &b);
                ok &= a == end && b >= a && (b == n || b % 16 == 0);
                ok &= b - a <= (n + 15) / 16 / T * 16 + 16;
                end = b;
            }
            ok &= end == n;
        }
    CU_ASSERT(ok);
}

/* A progress line on stderr (ot_status_line) is erased before a message, which then starts a
 * line of its own (until 2026-12 it trailed the epoch bar: "... loss 2.3032omptrain: ..."); a
 * line erased by its owner, or on another stream, leaves messages as they were. */
static void test_common_error_after_status_line(void)
{
    ot_test_capture_begin();
    fputs("\r  epoch 1/1 [#....] 1/600\033[K", stderr);
    ot_status_line(stderr);
    ot_error("diverged");
    ot_error("second"); /* the line is gone: nothing to erase */
    char *out = ot_test_capture_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out, "\r  epoch 1/1 [#....] 1/600\033[K\r\033[Komptrain: diverged\n"
                                "omptrain: second\n");
    free(out);

    ot_test_capture_begin();
    ot_status_line(stderr);
    ot_status_line(NULL); /* erased by its owner */
    ot_error("a");
    ot_status_line(stdout); /* another stream: stderr's line is not touched */
    ot_error("b");
    ot_status_line(NULL);
    out = ot_test_capture_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out, "omptrain: a\nomptrain: b\n");
    free(out);
}

/* What f wrote on a fresh stream with a bar of delay `after`. */
static void bar_output(double after, void (*f)(ot_bar_t *), char *got, size_t n)
{
    FILE *out = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    ot_bar_t b;
    ot_bar_begin(&b, out, after);
    f(&b);
    rewind(out);
    got[fread(got, 1, n - 1, out)] = '\0';
    fclose(out);
}

static void three_lines(ot_bar_t *b)
{
    ot_bar_show(b, "  work: %d of %d", 1, 3);
    ot_bar_show(b, "  work: %d of %d", 2, 3); /* within 0.1 s of the first: not drawn */
    ot_bar_end(b);
    ot_bar_end(b); /* once erased, nothing more */
}

/* A progress line: drawn once the work has taken the delay, redrawn at most ten times a
 * second, erased at the end (and the status line with it); nothing before the delay, nothing
 * without a stream. */
static void test_common_bar(void)
{
    char got[256];
    bar_output(0.0, three_lines, got, sizeof got);
    CU_ASSERT_STRING_EQUAL(got, "\r  work: 1 of 3\033[K\r\033[K");
    bar_output(1e9, three_lines, got, sizeof got);
    CU_ASSERT_STRING_EQUAL(got, "");
    ot_bar_t none;
    ot_bar_begin(&none, NULL, 0.0);
    three_lines(&none); /* no stream: nothing to do, and nothing fails */
    /* drawn on stderr, it is the status line a message erases first */
    ot_test_capture_begin();
    ot_bar_t b;
    ot_bar_begin(&b, stderr, 0.0);
    ot_bar_show(&b, "  loading");
    ot_error("bad");
    char *out = ot_test_capture_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out, "\r  loading\033[K\r\033[Komptrain: bad\n");
    free(out);
}

/* Shell words: plain ones as they are; others in single quotes that /bin/sh reads back as the
 * same string; a word too long for the buffer cut short but still quoted and terminated. */
static void test_shell_word(void)
{
    char buf[64];
    CU_ASSERT_STRING_EQUAL(ot_shell_word("runs/a-1_b.c/latest.h5", buf, sizeof buf),
                           "runs/a-1_b.c/latest.h5");
    CU_ASSERT_STRING_EQUAL(ot_shell_word("output.dir=/tmp/x", buf, sizeof buf), "output.dir=/tmp/x");
    CU_ASSERT_STRING_EQUAL(ot_shell_word("", buf, sizeof buf), "''");
    CU_ASSERT_STRING_EQUAL(ot_shell_word("a b", buf, sizeof buf), "'a b'");
    CU_ASSERT_STRING_EQUAL(ot_shell_word("it's", buf, sizeof buf), "'it'\\''s'");
    CU_ASSERT_STRING_EQUAL(ot_shell_word("$HOME;*", buf, sizeof buf), "'$HOME;*'");
    CU_ASSERT_STRING_EQUAL(ot_shell_word("model.layers=conv 8 5x5, relu", buf, 16),
                           "'model.layers='");
    CU_ASSERT_STRING_EQUAL(ot_shell_word("x y", buf, 3), "''");
    /* what the shell makes of them: printf '%s|' WORD... */
    const char *words[] = {"a b", "it's", "$HOME;*", "\\\"q\"", "tab\tnl\n"};
    char cmd[512] = "printf '%s|'", w[128];
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " %s",
                 ot_shell_word(words[i], w, sizeof w));
    FILE *sh = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(sh);
    char got[256] = "";
    size_t n = fread(got, 1, sizeof got - 1, sh);
    got[n] = '\0';
    pclose(sh);
    CU_ASSERT_STRING_EQUAL(got, "a b|it's|$HOME;*|\\\"q\"|tab\tnl\n|");
}

OT_TEST_SUITE(common, NULL, NULL,
              {"common: ot_shell_word, read back by /bin/sh", test_shell_word},
              {"common: a progress line (ot_bar_t)", test_common_bar},
              {"common: ot_error; messages held, released once with the process's name, or "
               "dropped", test_common_error_hold},
              {"common: a message after a progress line starts a line of its own",
               test_common_error_after_status_line},
              {"param_part: parts that tile the block in order, cut at cache lines",
               test_param_part})
