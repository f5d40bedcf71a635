/* The rolling log file: files are cut at line ends under roll_size, a
 * line longer than roll_size gets a file of its own, a roll that fails
 * keeps writing to the current file, says so, and is retried; a full disk
 * leaves whole lines only; two log files never share a file. */
#include "test_support.h"

#include "disk_faults.h"

#include "base/log_file.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct log_dir {
    char path[64];
    char basename[96];
};

static void log_dir_make(struct log_dir *d)
{
    snprintf(d->path, sizeof d->path, "/tmp/muduo-logfile-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d->path));
    snprintf(d->basename, sizeof d->basename, "%s/app", d->path);
}

/* The files of the directory in the order they were started (the name
 * counts them: "app.<stamp>.<pid>.<n>.log"), each read whole. */
struct log_files {
    int count;
    char *text[16];
    size_t len[16];
};

static long file_number(const char *name)
{
    const char *end = name + strlen(name) - 4; /* before ".log" */
    const char *p = end;
    while (p > name && p[-1] != '.')
        p--;
    return strtol(p, NULL, 10);
}

static void read_files(const struct log_dir *d, struct log_files *out)
{
    memset(out, 0, sizeof *out);
    DIR *dir = opendir(d->path);
    ck_assert_ptr_nonnull(dir);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        long n = file_number(e->d_name);
        ck_assert_msg(n >= 1 && n <= 16, "unexpected file %s", e->d_name);
        char path[sizeof d->path + sizeof e->d_name + 1];
        snprintf(path, sizeof path, "%s/%s", d->path, e->d_name);
        FILE *fp = fopen(path, "re");
        ck_assert_ptr_nonnull(fp);
        char *text = malloc(1 << 16);
        size_t len = fread(text, 1, (1 << 16) - 1, fp);
        text[len] = '\0';
        fclose(fp);
        ck_assert_ptr_null(out->text[n - 1]); /* numbers are unique */
        out->text[n - 1] = text;
        out->len[n - 1] = len;
        out->count++;
    }
    closedir(dir);
    for (int i = 0; i < out->count; i++)
        ck_assert_msg(out->text[i] != NULL, "file %d missing", i + 1);
}

static void free_files(struct log_files *f)
{
    for (int i = 0; i < 16; i++)
        free(f->text[i]);
}

static void log_dir_remove(const struct log_dir *d)
{
    DIR *dir = opendir(d->path);
    ck_assert_ptr_nonnull(dir);
    struct dirent *e;
    char path[sizeof d->path + sizeof e->d_name + 1];
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", d->path, e->d_name);
        ck_assert_int_eq(unlink(path), 0);
    }
    closedir(dir);
    ck_assert_int_eq(rmdir(d->path), 0);
}

START_TEST(one_append_is_cut_at_line_ends_under_roll_size)
{
    struct log_dir d;
    log_dir_make(&d);
    struct log_file *f = log_file_open(d.basename, 1000);
    ck_assert_ptr_nonnull(f);
    /* 100 lines of 37 bytes in one append, as the async back end writes a
     * whole buffer: 27 lines (999 bytes) fit in a file. */
    char all[100 * 37 + 1];
    for (int i = 0; i < 100; i++) {
        char one[64];
        int n = snprintf(one, sizeof one,
                         "line %03d ................... padding\n", i);
        ck_assert_int_eq(n, 37);
        memcpy(all + i * 37, one, 37);
    }
    all[sizeof all - 1] = '\0';
    ck_assert_uint_eq(log_file_append(f, all, sizeof all - 1), sizeof all - 1);
    ck_assert_uint_eq(log_file_count(f), 4);
    log_file_close(f);

    struct log_files files;
    read_files(&d, &files);
    ck_assert_int_eq(files.count, 4);
    size_t offset = 0;
    for (int i = 0; i < files.count; i++) {
        ck_assert_uint_le(files.len[i], 1000);
        ck_assert_int_eq(files.text[i][files.len[i] - 1], '\n');
        ck_assert(memcmp(files.text[i], all + offset, files.len[i]) == 0);
        offset += files.len[i];
    }
    ck_assert_uint_eq(offset, sizeof all - 1); /* nothing lost */
    ck_assert_uint_eq(files.len[0], 27 * 37);
    free_files(&files);
    log_dir_remove(&d);
}
END_TEST

START_TEST(a_line_longer_than_roll_size_gets_a_file_of_its_own)
{
    struct log_dir d;
    log_dir_make(&d);
    struct log_file *f = log_file_open(d.basename, 100);
    ck_assert_ptr_nonnull(f);
    char text[6 + 251 + 5 + 1];
    memcpy(text, "short\n", 6);
    memset(text + 6, 'L', 250);
    text[256] = '\n';
    memcpy(text + 257, "tail\n", 5);
    text[262] = '\0';
    ck_assert_uint_eq(log_file_append(f, text, 262), 262);
    log_file_close(f);

    struct log_files files;
    read_files(&d, &files);
    ck_assert_int_eq(files.count, 3);
    ck_assert_str_eq(files.text[0], "short\n");
    ck_assert_uint_eq(files.len[1], 251);
    ck_assert_str_eq(files.text[2], "tail\n");
    free_files(&files);
    log_dir_remove(&d);
}
END_TEST

/* The directory is renamed away, so that the next file cannot be created;
 * the open file, which moved with it, keeps every line. */
START_TEST(a_failed_roll_keeps_writing_and_is_retried)
{
    struct log_dir d;
    log_dir_make(&d);
    char moved[96];
    snprintf(moved, sizeof moved, "%s-moved", d.path);
    struct log_file *f = log_file_open(d.basename, 100);
    ck_assert_ptr_nonnull(f);
    const char *line = "a line of exactly forty bytes, newline.\n";
    ck_assert_uint_eq(strlen(line), 40);
    ck_assert_uint_eq(log_file_append(f, line, 40), 40);
    ck_assert_uint_eq(log_file_append(f, line, 40), 40);

    ck_assert_int_eq(rename(d.path, moved), 0);
    for (int i = 0; i < 3; i++) /* each would roll, none can */
        ck_assert_uint_eq(log_file_append(f, line, 40), 40);
    ck_assert_uint_eq(log_file_count(f), 1);
    ck_assert_int_eq(rename(moved, d.path), 0);

    ck_assert_uint_eq(log_file_append(f, line, 40), 40); /* rolls now */
    ck_assert_uint_eq(log_file_count(f), 2);
    log_file_close(f);

    struct log_files files;
    read_files(&d, &files);
    ck_assert_int_eq(files.count, 2);
    /* Five lines in the first file, and one notice, not three. */
    const char *notice = strstr(files.text[0], "log_file: cannot start");
    ck_assert_ptr_nonnull(notice);
    ck_assert_ptr_null(strstr(notice + 1, "log_file: cannot start"));
    ck_assert_ptr_nonnull(strstr(notice, "No such file or directory"));
    int lines = 0;
    for (const char *p = files.text[0]; (p = strstr(p, line)) != NULL; p++)
        lines++;
    ck_assert_int_eq(lines, 5);
    ck_assert_str_eq(files.text[1], line);
    free_files(&files);
    log_dir_remove(&d);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
    errno = 0;
    ck_assert_ptr_null(log_file_open("/tmp/muduo-logfile-x", 0));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(log_file_open("/nonexistent/dir/app", 100));
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* The disk fills up in the middle of the third line: the file is cut
 * back to the two whole lines, the append says what it kept, and the
 * next line starts on a line of its own. */
START_TEST(a_full_disk_leaves_whole_lines_only)
{
    struct log_dir d;
    log_dir_make(&d);
    struct log_file *f = log_file_open(d.basename, 1 << 20);
    ck_assert_ptr_nonnull(f);
    const char *line = "a line of exactly forty bytes, newline.\n";
    char ten[10 * 40];
    for (int i = 0; i < 10; i++)
        memcpy(ten + i * 40, line, 40);
    disk_faults_begin(d.path);
    disk_faults_set_room(100);
    ck_assert_uint_eq(log_file_append(f, ten, sizeof ten), 80);
    ck_assert_uint_eq(log_file_append(f, line, 40), 0); /* still full */
    disk_faults_set_room(-1);
    ck_assert_uint_eq(log_file_append(f, "room again\n", 11), 11);
    disk_faults_end();
    log_file_close(f);

    struct log_files files;
    read_files(&d, &files);
    ck_assert_int_eq(files.count, 1);
    char expected[128];
    snprintf(expected, sizeof expected, "%s%sroom again\n", line, line);
    ck_assert_str_eq(files.text[0], expected);
    free_files(&files);
    log_dir_remove(&d);
}
END_TEST

/* Two log files with one basename, opened in the same second, as two
 * loggers (or a restart) would: each gets a file of its own, so their
 * lines never interleave. */
START_TEST(two_log_files_with_one_basename_never_share_a_file)
{
    struct log_dir d;
    log_dir_make(&d);
    struct log_file *a = log_file_open(d.basename, 1 << 20);
    struct log_file *b = log_file_open(d.basename, 1 << 20);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(log_file_append(a, "from a\n", 7), 7);
    ck_assert_uint_eq(log_file_append(b, "from b\n", 7), 7);
    log_file_close(a);
    log_file_close(b);

    /* Read by hand: should the second have turned between the two opens,
     * both files are number 1. */
    DIR *dir = opendir(d.path);
    ck_assert_ptr_nonnull(dir);
    int seen_a = 0, seen_b = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[sizeof d.path + sizeof e->d_name + 1], text[64] = "";
        snprintf(path, sizeof path, "%s/%s", d.path, e->d_name);
        FILE *fp = fopen(path, "re");
        ck_assert_ptr_nonnull(fp);
        size_t len = fread(text, 1, sizeof text - 1, fp);
        text[len] = '\0';
        fclose(fp);
        seen_a += strcmp(text, "from a\n") == 0;
        seen_b += strcmp(text, "from b\n") == 0;
    }
    closedir(dir);
    ck_assert_int_eq(seen_a, 1);
    ck_assert_int_eq(seen_b, 1);
    log_dir_remove(&d);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch04 log file");
    TCase *tc = tcase_create("log_file");
    tcase_add_fd_guard(tc);
    tcase_add_test(tc, one_append_is_cut_at_line_ends_under_roll_size);
    tcase_add_test(tc, a_line_longer_than_roll_size_gets_a_file_of_its_own);
    tcase_add_test(tc, a_failed_roll_keeps_writing_and_is_retried);
    tcase_add_test(tc, bad_arguments_are_refused);
    tcase_add_test(tc, a_full_disk_leaves_whole_lines_only);
    tcase_add_test(tc, two_log_files_with_one_basename_never_share_a_file);
    suite_add_tcase(s, tc);
    return s;
}
