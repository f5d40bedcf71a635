/* The broker's configuration: the defaults, every option in both
 * command-line forms and in a config file, every kind of bad value with
 * its message, sizes with every unit and past every limit, the order in
 * which flags and a file override each other, and the help text. */
#include "test_support.h"

#include "mom/config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ARGS 16
#define MAX_FILES 8

/* A folder made for each test, with the files the test wrote in it;
 * both are removed after the test. */
static char dir[64];
static char files[MAX_FILES][PATH_MAX];
static size_t file_count;
/* TMPDIR as the test found it, put back after the test. */
static char *saved_tmpdir;

static void temp_setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_config.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    file_count = 0;
    const char *t = getenv("TMPDIR");
    saved_tmpdir = t != NULL ? strdup(t) : NULL;
}

static void temp_teardown(void)
{
    for (size_t i = 0; i < file_count; i++)
        unlink(files[i]);
    ck_assert_int_eq(rmdir(dir), 0);
    if (saved_tmpdir != NULL)
        setenv("TMPDIR", saved_tmpdir, 1);
    else
        unsetenv("TMPDIR");
    free(saved_tmpdir);
}

/* Writes @p text to a new file @p name in the test's folder; returns its
 * path (valid until the test ends). */
static const char *write_file(const char *name, const char *text, size_t len)
{
    ck_assert_uint_lt(file_count, MAX_FILES);
    char *path = files[file_count++];
    snprintf(path, PATH_MAX, "%s/%s", dir, name);
    FILE *f = fopen(path, "we");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

#define WRITE_FILE(name, text) write_file(name, text, sizeof(text) - 1)

/* Parses the NULL-terminated arguments after a program name into @p c,
 * which the caller has initialized; returns the result, the message in
 * @p err. */
static int parse(struct broker_config *c, char *err, ...)
{
    char *argv[MAX_ARGS + 1] = {"momd"};
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    for (char *a; (a = va_arg(ap, char *)) != NULL;) {
        ck_assert_int_lt(argc, MAX_ARGS);
        argv[argc++] = a;
    }
    va_end(ap);
    err[0] = '\0';
    return broker_config_parse_args(c, argc, argv, err, CONFIG_ERROR_CAP);
}

/* Every option that has a field, as its field reads in text: a test that
 * sets one option compares all the others against the defaults, so that
 * an option that writes to the wrong field is caught. */
static const char *const fields[] = {
    "bind", "port", "threads", "requirepass", "spill-dir", "log-file",
    "max-clients", "max-bulk-len", "max-multibulk", "max-inline",
    "query-buffer-limit", "sub-memory-limit", "sub-disk-cap", "disk-cap",
    "policy", "shutdown-timeout", "retain", "help", "version",
};
#define FIELD_COUNT (sizeof fields / sizeof fields[0])

static void field_text(const struct broker_config *c, const char *name,
                       char *out, size_t len)
{
    const struct {
        const char *name;
        uint64_t value;
    } numbers[] = {
        {"port", (uint64_t)c->port},
        {"threads", (uint64_t)c->threads},
        {"max-clients", c->max_clients},
        {"max-bulk-len", c->max_bulk},
        {"max-multibulk", c->max_multibulk},
        {"max-inline", c->max_inline},
        {"query-buffer-limit", c->query_buffer_limit},
        {"sub-memory-limit", c->sub_memory_limit},
        {"sub-disk-cap", c->sub_disk_cap},
        {"disk-cap", c->disk_cap},
        {"shutdown-timeout", c->shutdown_timeout_ms},
        {"help", c->show_help},
        {"version", c->show_version},
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
        if (strcmp(name, numbers[i].name) == 0) {
            snprintf(out, len, "%" PRIu64, numbers[i].value);
            return;
        }
    const char *s = NULL;
    if (strcmp(name, "bind") == 0)
        s = c->bind;
    else if (strcmp(name, "requirepass") == 0)
        s = c->requirepass;
    else if (strcmp(name, "spill-dir") == 0)
        s = c->spill_dir;
    else if (strcmp(name, "log-file") == 0)
        s = c->log_file;
    else if (strcmp(name, "policy") == 0)
        s = broker_policy_name(c->policy);
    if (s != NULL || strcmp(name, "retain") != 0) {
        snprintf(out, len, "%s", s != NULL ? s : "(null)");
        return;
    }
    out[0] = '\0';
    for (size_t i = 0; i < c->retain_count; i++)
        snprintf(out + strlen(out), len - strlen(out), "[%s]", c->retain[i]);
}

/* Every field of @p c equals the defaults, except @p name, which reads
 * @p want. */
static void expect_only(const struct broker_config *c, const char *name,
                        const char *want)
{
    struct broker_config d;
    ck_assert_int_eq(broker_config_init(&d), 0);
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        char got[256];
        char def[256];
        field_text(c, fields[i], got, sizeof got);
        field_text(&d, fields[i], def, sizeof def);
        if (name != NULL && strcmp(fields[i], name) == 0)
            ck_assert_msg(strcmp(got, want) == 0, "%s: got '%s', want '%s'",
                          name, got, want);
        else
            ck_assert_msg(strcmp(got, def) == 0, "%s changed to '%s'",
                          fields[i], got);
    }
    broker_config_destroy(&d);
}

START_TEST(defaults)
{
    struct broker_config c;
    setenv("TMPDIR", "/var/tmp/broker", 1);
    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_str_eq(c.bind, "127.0.0.1");
    ck_assert_int_eq(c.port, 6380);
    ck_assert_int_eq(c.threads, 2);
    ck_assert_ptr_null(c.requirepass);
    ck_assert_str_eq(c.spill_dir, "/var/tmp/broker");
    ck_assert_ptr_null(c.log_file);
    ck_assert_uint_eq(c.max_clients, 10000);
    ck_assert_uint_eq(c.max_bulk, 512u * 1024 * 1024);
    ck_assert_uint_eq(c.max_multibulk, INT_MAX);
    ck_assert_uint_eq(c.max_inline, 64 * 1024);
    ck_assert_uint_eq(c.query_buffer_limit, 1024u * 1024 * 1024);
    ck_assert_uint_eq(c.sub_memory_limit, 8 * 1024 * 1024);
    ck_assert_uint_eq(c.sub_disk_cap, 1024u * 1024 * 1024);
    ck_assert_uint_eq(c.disk_cap, 4ull * 1024 * 1024 * 1024);
    ck_assert_int_eq(c.policy, BROKER_POLICY_DISCONNECT);
    ck_assert_uint_eq(c.shutdown_timeout_ms, 2000);
    ck_assert_ptr_null(c.retain);
    ck_assert_uint_eq(c.retain_count, 0);
    ck_assert(!c.show_help);
    ck_assert(!c.show_version);
    broker_config_destroy(&c);

    /* Without TMPDIR, or with an empty one, the spill folder is /tmp. */
    unsetenv("TMPDIR");
    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_str_eq(c.spill_dir, "/tmp");
    broker_config_destroy(&c);
    setenv("TMPDIR", "", 1);
    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_str_eq(c.spill_dir, "/tmp");
    /* Destroying twice, and initializing again after it, are fine. */
    broker_config_destroy(&c);
    broker_config_destroy(&c);
    ck_assert_int_eq(broker_config_init(&c), 0);
    broker_config_destroy(&c);
}
END_TEST

/* One option, one value, and how its field then reads. */
struct setting {
    const char *name;
    const char *value;
    const char *want;
};

static const struct setting settings[] = {
    {"bind", "10.1.2.3", "10.1.2.3"},
    {"bind", "0.0.0.0", "0.0.0.0"},
    {"port", "7000", "7000"},
    {"port", "0", "0"},
    {"port", "65535", "65535"},
    {"threads", "0", "0"},
    {"threads", "64", "64"},
    {"requirepass", "s3cret", "s3cret"},
    {"spill-dir", "/var/spool/momd", "/var/spool/momd"},
    {"log-file", "/var/log/momd.log", "/var/log/momd.log"},
    {"max-clients", "1", "1"},
    {"max-clients", "2147483647", "2147483647"},
    {"max-bulk-len", "2mb", "2097152"},
    {"max-multibulk", "100", "100"},
    {"max-inline", "1k", "1000"},
    {"query-buffer-limit", "3gb", "3221225472"},
    {"sub-memory-limit", "64KB", "65536"},
    {"sub-disk-cap", "0", "0"},
    {"disk-cap", "10g", "10000000000"},
    {"policy", "drop-oldest", "drop-oldest"},
    {"policy", "Drop-Oldest", "drop-oldest"},
    {"shutdown-timeout", "0", "0"},
    {"shutdown-timeout", "15000", "15000"},
    {"retain", "news.*", "[news.*]"},
};
#define SETTING_COUNT (sizeof settings / sizeof settings[0])

START_TEST(every_option_in_both_forms)
{
    char err[CONFIG_ERROR_CAP];
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const struct setting *s = &settings[i];
        char flag[64];
        char joined[128];
        snprintf(flag, sizeof flag, "--%s", s->name);
        snprintf(joined, sizeof joined, "--%s=%s", s->name, s->value);

        struct broker_config c;
        ck_assert_int_eq(broker_config_init(&c), 0);
        ck_assert_msg(parse(&c, err, flag, s->value, NULL) == 0, "%s: %s",
                      flag, err);
        expect_only(&c, s->name, s->want);
        broker_config_destroy(&c);

        ck_assert_int_eq(broker_config_init(&c), 0);
        ck_assert_msg(parse(&c, err, joined, NULL) == 0, "%s: %s", joined,
                      err);
        expect_only(&c, s->name, s->want);
        broker_config_destroy(&c);
    }
}
END_TEST

START_TEST(flags_and_names)
{
    char err[CONFIG_ERROR_CAP];
    struct broker_config c;
    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_int_eq(parse(&c, err, "--help", NULL), 0);
    expect_only(&c, "help", "1");
    broker_config_destroy(&c);

    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_int_eq(parse(&c, err, "--version", NULL), 0);
    expect_only(&c, "version", "1");
    ck_assert_int_eq(parse(&c, err, "--help", NULL), 0);
    ck_assert(c.show_help && c.show_version);
    broker_config_destroy(&c);

    /* Names match in any case; the last value wins; no arguments at all
     * leave the defaults. */
    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_int_eq(parse(&c, err, "--PORT", "1", "--Port=2", NULL), 0);
    expect_only(&c, "port", "2");
    ck_assert_int_eq(parse(&c, err, NULL), 0);
    expect_only(&c, "port", "2");
    broker_config_destroy(&c);

    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_int_eq(parse(&c, err, "--requirepass=--two words", NULL), 0);
    expect_only(&c, "requirepass", "--two words");
    broker_config_destroy(&c);

    /* An empty password or log file means none. */
    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_int_eq(parse(&c, err, "--requirepass", "pw", "--log-file", "f",
                           "--requirepass=", "--log-file", "", NULL),
                     0);
    expect_only(&c, NULL, NULL);
    broker_config_destroy(&c);
}
END_TEST

START_TEST(retain_repeats)
{
    char err[CONFIG_ERROR_CAP];
    struct broker_config c;
    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_int_eq(parse(&c, err, "--retain", "news.*", "--retain=sport",
                           "--retain", "weather.[ab]?", NULL),
                     0);
    expect_only(&c, "retain", "[news.*][sport][weather.[ab]?]");
    ck_assert_uint_eq(c.retain_count, 3);
    broker_config_destroy(&c);
    ck_assert_ptr_null(c.retain);
    ck_assert_uint_eq(c.retain_count, 0);
}
END_TEST

/* A command line that fails, and the message it must give. */
struct bad_args {
    const char *args[4];
    const char *message;
};

#define PORT_WORDS "is not a port (1-65535, or 0 for any)"
#define SIZE_WORDS                                                            \
    "is not a size (a number of bytes, with or without one of the units "    \
    "k, kb, m, mb, g or gb)"

static const struct bad_args bad_args[] = {
    {{"--port", "70000"}, "--port: '70000' " PORT_WORDS},
    {{"--port", "65536"}, "--port: '65536' " PORT_WORDS},
    {{"--port", "-1"}, "--port: '-1' " PORT_WORDS},
    {{"--port", "http"}, "--port: 'http' " PORT_WORDS},
    {{"--port="}, "--port: '' " PORT_WORDS},
    {{"--port", "99999999999999999999999"},
     "--port: '99999999999999999999999' " PORT_WORDS},
    {{"--threads", "65"}, "--threads: '65' is too large (at most 64)"},
    {{"--threads", "-2"}, "--threads: '-2' is negative"},
    {{"--threads", "two"}, "--threads: 'two' is not a whole number"},
    {{"--threads", "2k"}, "--threads: '2k' is not a whole number"},
    {{"--threads", "+2"}, "--threads: '+2' is not a whole number"},
    {{"--threads", " 2"}, "--threads: ' 2' is not a whole number"},
    {{"--max-clients", "0"}, "--max-clients: '0' is too small (at least 1)"},
    {{"--max-multibulk", "2147483648"},
     "--max-multibulk: '2147483648' is too large (at most 2147483647)"},
    {{"--shutdown-timeout", "1s"},
     "--shutdown-timeout: '1s' is not a whole number"},
    {{"--shutdown-timeout", "2147483648"},
     "--shutdown-timeout: '2147483648' is too large (at most 2147483647)"},
    {{"--max-bulk-len", "0"}, "--max-bulk-len: '0' is too small (at least 1)"},
    {{"--max-bulk-len", "1.5mb"}, "--max-bulk-len: '1.5mb' " SIZE_WORDS},
    {{"--max-inline", "-1kb"}, "--max-inline: '-1kb' is negative"},
    {{"--bind", "localhost"},
     "--bind: 'localhost' is not an IPv4 address (like 127.0.0.1)"},
    {{"--bind", "::1"}, "--bind: '::1' is not an IPv4 address (like 127.0.0.1)"},
    {{"--bind", "1.2.3"}, "--bind: '1.2.3' is not an IPv4 address (like 127.0.0.1)"},
    {{"--bind", "1.2.3.256"},
     "--bind: '1.2.3.256' is not an IPv4 address (like 127.0.0.1)"},
    {{"--policy", "drop"},
     "--policy: 'drop' is not a policy (disconnect or drop-oldest)"},
    {{"--spill-dir="}, "--spill-dir: the value is empty"},
    {{"--retain", ""}, "--retain: the value is empty"},
    {{"--prot", "1"}, "unknown option '--prot'"},
    /* The value is left out of the message: it may be a password. */
    {{"--requirepas=hunter2"}, "unknown option '--requirepas'"},
    {{"--port"}, "--port: missing value"},
    {{"--port", "--threads", "3"}, "--port: missing value"},
    {{"--config"}, "--config: missing value"},
    {{"--config="}, "--config: the value is empty"},
    /* A value that starts with "--" is given with '='. */
    {{"--requirepass", "--x"}, "--requirepass: missing value"},
    {{"--help=yes"}, "--help takes no value"},
    {{"extra"}, "unexpected argument 'extra' (options start with --)"},
    {{"-"}, "unexpected argument '-' (options start with --)"},
    {{"-p", "1"}, "unknown option '-p'"},
    {{"--"}, "unknown option '--'"},
    {{"--threads", "4", "stray"},
     "unexpected argument 'stray' (options start with --)"},
};

START_TEST(bad_arguments_say_why)
{
    for (size_t i = 0; i < sizeof bad_args / sizeof bad_args[0]; i++) {
        const struct bad_args *b = &bad_args[i];
        char *argv[6] = {"momd"};
        int argc = 1;
        for (size_t j = 0; j < 4 && b->args[j] != NULL; j++)
            argv[argc++] = (char *)b->args[j];
        char err[CONFIG_ERROR_CAP] = "";
        struct broker_config c;
        ck_assert_int_eq(broker_config_init(&c), 0);
        ck_assert_int_eq(
            broker_config_parse_args(&c, argc, argv, err, sizeof err),
            -EINVAL);
        ck_assert_str_eq(err, b->message);
        broker_config_destroy(&c);
    }
}
END_TEST

/* A message longer than the buffer is cut, and a caller may pass no
 * buffer at all. */
START_TEST(messages_fit_the_buffer)
{
    struct broker_config c;
    ck_assert_int_eq(broker_config_init(&c), 0);
    char *argv[] = {"momd", "--port", "70000"};
    char err[8];
    ck_assert_int_eq(broker_config_parse_args(&c, 3, argv, err, sizeof err),
                     -EINVAL);
    ck_assert_str_eq(err, "--port:");
    ck_assert_int_eq(broker_config_parse_args(&c, 3, argv, NULL, 0), -EINVAL);
    broker_config_destroy(&c);
}
END_TEST

/* A size as --disk-cap reads it (its range starts at 0): the value, or
 * the message. */
struct size_case {
    const char *text;
    uint64_t value;
    const char *error; /* NULL: valid */
};

#define TOO_LARGE "is too large (at most 9223372036854775807)"

static const struct size_case sizes[] = {
    {"0", 0, NULL},
    {"0kb", 0, NULL},
    {"5", 5, NULL},
    {"5b", 5, NULL},
    {"5B", 5, NULL},
    {"5k", 5000, NULL},
    {"5K", 5000, NULL},
    {"5kb", 5120, NULL},
    {"5KB", 5120, NULL},
    {"5kB", 5120, NULL},
    {"5m", 5000000, NULL},
    {"5M", 5000000, NULL},
    {"5mb", 5242880, NULL},
    {"5Mb", 5242880, NULL},
    {"5g", 5000000000ull, NULL},
    {"5G", 5000000000ull, NULL},
    {"5gb", 5368709120ull, NULL},
    {"5GB", 5368709120ull, NULL},
    {"007", 7, NULL},
    {"9223372036854775807", 9223372036854775807ull, NULL},
    {"9223372036854775807b", 9223372036854775807ull, NULL},
    {"8589934591gb", 9223372035781033984ull, NULL},
    {"9223372036854775808", 0, TOO_LARGE},
    {"8589934592gb", 0, TOO_LARGE},
    {"18446744073709551615", 0, TOO_LARGE},
    {"18446744073709551616", 0, TOO_LARGE},
    {"18446744073709551616kb", 0, TOO_LARGE},
    {"99999999999999999999999999", 0, TOO_LARGE},
    {"17179869184gb", 0, TOO_LARGE}, /* 2^64 exactly */
    {"-1", 0, "is negative"},
    {"-0", 0, "is negative"},
    {"-5gb", 0, "is negative"},
    {"", 0, SIZE_WORDS},
    {"kb", 0, SIZE_WORDS},
    {"-", 0, SIZE_WORDS},
    {"-kb", 0, SIZE_WORDS},
    {"+5", 0, SIZE_WORDS},
    {" 5", 0, SIZE_WORDS},
    {"5 ", 0, SIZE_WORDS},
    {"5 kb", 0, SIZE_WORDS},
    {"5kbb", 0, SIZE_WORDS},
    {"5t", 0, SIZE_WORDS},
    {"5tb", 0, SIZE_WORDS},
    {"5e3", 0, SIZE_WORDS},
    {"0x10", 0, SIZE_WORDS},
    {"1.5g", 0, SIZE_WORDS},
    {"5kib", 0, SIZE_WORDS},
};

START_TEST(sizes_take_every_unit_and_refuse_overflow)
{
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const struct size_case *s = &sizes[i];
        char arg[64];
        char err[CONFIG_ERROR_CAP];
        snprintf(arg, sizeof arg, "--disk-cap=%s", s->text);
        struct broker_config c;
        ck_assert_int_eq(broker_config_init(&c), 0);
        int rc = parse(&c, err, arg, NULL);
        if (s->error == NULL) {
            ck_assert_msg(rc == 0, "%s: %s", arg, err);
            ck_assert_msg(c.disk_cap == s->value, "%s: %" PRIu64, arg,
                          c.disk_cap);
        } else {
            char want[CONFIG_ERROR_CAP];
            snprintf(want, sizeof want, "--disk-cap: '%s' %s", s->text,
                     s->error);
            ck_assert_int_eq(rc, -EINVAL);
            ck_assert_str_eq(err, want);
            ck_assert_uint_eq(c.disk_cap, CONFIG_DEFAULT_DISK_CAP);
        }
        broker_config_destroy(&c);
    }
}
END_TEST

START_TEST(file_sets_options)
{
    const char *path = WRITE_FILE(
        "momd.conf",
        "# the broker of the test\n"
        "   # an indented comment\n"
        "\n"
        "  \t \n"
        "port 7001\n"
        "BIND 10.0.0.1\r\n"
        "\tthreads\t 4  \n"
        "requirepass \"two words, \\\"quoted\\\", a back\\\\slash\"\n"
        "retain news.*\n"
        "retain \"sport s\"\n"
        "policy DROP-OLDEST\n"
        "max-bulk-len 1mb\n"
        "spill-dir /var/spool/momd\n"
        "log-file \"\"\n"
        "disk-cap 0\n"
        "max-inline \"2kb\"\n"
        "shutdown-timeout 500"); /* no newline at the end */
    char err[CONFIG_ERROR_CAP] = "";
    struct broker_config c;
    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_msg(broker_config_load_file(&c, path, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_int_eq(c.port, 7001);
    ck_assert_str_eq(c.bind, "10.0.0.1");
    ck_assert_int_eq(c.threads, 4);
    ck_assert_str_eq(c.requirepass, "two words, \"quoted\", a back\\slash");
    ck_assert_uint_eq(c.retain_count, 2);
    ck_assert_str_eq(c.retain[0], "news.*");
    ck_assert_str_eq(c.retain[1], "sport s");
    ck_assert_int_eq(c.policy, BROKER_POLICY_DROP_OLDEST);
    ck_assert_uint_eq(c.max_bulk, 1024 * 1024);
    ck_assert_str_eq(c.spill_dir, "/var/spool/momd");
    ck_assert_ptr_null(c.log_file);
    ck_assert_uint_eq(c.disk_cap, 0);
    ck_assert_uint_eq(c.max_inline, 2048);
    ck_assert_uint_eq(c.shutdown_timeout_ms, 500);
    broker_config_destroy(&c);

    /* An empty file changes nothing. */
    path = WRITE_FILE("empty.conf", "");
    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_int_eq(broker_config_load_file(&c, path, err, sizeof err), 0);
    expect_only(&c, NULL, NULL);
    broker_config_destroy(&c);
}
END_TEST

/* A file's line and the message it must give, after "PATH:LINE: ". */
struct bad_line {
    const char *text;
    size_t len;
    unsigned line;
    const char *message;
};

#define BAD(text, line, message) {text, sizeof(text) - 1, line, message}

static const struct bad_line bad_lines[] = {
    BAD("# fine\nport 7000\nprot 7001\n", 3, "unknown option 'prot'"),
    BAD("port 70000\n", 1, "port: '70000' " PORT_WORDS),
    BAD("\n\n\n\nthreads 100\n", 5, "threads: '100' is too large (at most 64)"),
    BAD("disk-cap 5tb\n", 1, "disk-cap: '5tb' " SIZE_WORDS),
    BAD("port\n", 1, "port: missing value"),
    BAD("port   \t\n", 1, "port: missing value"),
    BAD("bind 1.2.3.4 5.6.7.8\n", 1, "bind: more than one value"),
    BAD("requirepass two words\n", 1, "requirepass: more than one value"),
    BAD("requirepass \"open\n", 1, "requirepass: unterminated quote"),
    BAD("requirepass \"open\\\"\n", 1, "requirepass: unterminated quote"),
    BAD("requirepass \"a\"b\n", 1,
        "requirepass: no blank after the closing quote"),
    BAD("requirepass \"a\" \"b\"\n", 1, "requirepass: more than one value"),
    BAD("policy \"\"\n", 1, "policy: '' is not a policy (disconnect or drop-oldest)"),
    BAD("spill-dir \"\"\n", 1, "spill-dir: the value is empty"),
    BAD("help\n", 1, "help: only on the command line (--help)"),
    BAD("version yes\n", 1, "version: only on the command line (--version)"),
    BAD("config other.conf\n", 1, "config: only on the command line (--config)"),
    BAD("--port 7000\n", 1, "unknown option '--port'"),
    BAD("port=7000\n", 1, "unknown option 'port=7000'"),
    BAD("port 1\nport 7\0\n", 2, "the line holds a NUL byte"),
};

START_TEST(bad_file_lines_are_named)
{
    for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++) {
        const struct bad_line *b = &bad_lines[i];
        char name[32];
        snprintf(name, sizeof name, "bad%zu.conf", i);
        file_count = 0; /* one file at a time */
        const char *path = write_file(name, b->text, b->len);
        char want[CONFIG_ERROR_CAP];
        snprintf(want, sizeof want, "%s:%u: %s", path, b->line, b->message);
        char err[CONFIG_ERROR_CAP] = "";
        struct broker_config c;
        ck_assert_int_eq(broker_config_init(&c), 0);
        ck_assert_int_eq(broker_config_load_file(&c, path, err, sizeof err),
                         -EINVAL);
        ck_assert_str_eq(err, want);
        broker_config_destroy(&c);
        unlink(path);
    }
}
END_TEST

START_TEST(unreadable_files)
{
    char path[sizeof dir + 32];
    char want[CONFIG_ERROR_CAP];
    char err[CONFIG_ERROR_CAP] = "";
    struct broker_config c;
    ck_assert_int_eq(broker_config_init(&c), 0);

    snprintf(path, sizeof path, "%s/missing.conf", dir);
    ck_assert_int_eq(broker_config_load_file(&c, path, err, sizeof err),
                     -ENOENT);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory",
             path);
    ck_assert_str_eq(err, want);

    /* The same through --config. */
    err[0] = '\0';
    ck_assert_int_eq(parse(&c, err, "--config", path, NULL), -ENOENT);
    ck_assert_str_eq(err, want);

    /* A folder opens, and fails when read. */
    ck_assert_int_eq(broker_config_load_file(&c, dir, err, sizeof err),
                     -EISDIR);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", dir);
    ck_assert_str_eq(err, want);
    expect_only(&c, NULL, NULL);
    broker_config_destroy(&c);
}
END_TEST

/* The file is read where --config stands: it overrides the flags before
 * it and the flags after it override the file; --retain adds up. */
START_TEST(flags_and_file_apply_in_order)
{
    const char *path = WRITE_FILE("momd.conf", "port 7001\n"
                                               "threads 4\n"
                                               "retain from.file\n");
    char err[CONFIG_ERROR_CAP];
    struct broker_config c;
    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_msg(parse(&c, err, "--port", "1", "--retain", "before",
                        "--config", path, "--threads=9", "--retain=after",
                        NULL) == 0,
                  "%s", err);
    ck_assert_int_eq(c.port, 7001);
    ck_assert_int_eq(c.threads, 9);
    ck_assert_uint_eq(c.retain_count, 3);
    ck_assert_str_eq(c.retain[0], "before");
    ck_assert_str_eq(c.retain[1], "from.file");
    ck_assert_str_eq(c.retain[2], "after");
    broker_config_destroy(&c);

    /* --config=FILE is the same; a bad line stops the command line. */
    const char *bad = WRITE_FILE("bad.conf", "threads 4\nport x\n");
    ck_assert_int_eq(broker_config_init(&c), 0);
    ck_assert_int_eq(parse(&c, err, "--port=2", NULL), 0);
    char arg[PATH_MAX + 16];
    snprintf(arg, sizeof arg, "--config=%s", bad);
    ck_assert_int_eq(parse(&c, err, arg, "--threads", "1", NULL), -EINVAL);
    char want[CONFIG_ERROR_CAP];
    snprintf(want, sizeof want, "%s:2: port: 'x' " PORT_WORDS, bad);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(c.port, 2);
    ck_assert_int_eq(c.threads, 4);
    broker_config_destroy(&c);
}
END_TEST

START_TEST(policy_names)
{
    ck_assert_str_eq(broker_policy_name(BROKER_POLICY_DISCONNECT), "disconnect");
    ck_assert_str_eq(broker_policy_name(BROKER_POLICY_DROP_OLDEST),
                     "drop-oldest");
    ck_assert_str_eq(broker_policy_name((enum broker_policy)99), "?");
}
END_TEST

/* The help lists every option with its default. */
START_TEST(usage_lists_every_option)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(out);
    broker_config_usage(out, "momd");
    ck_assert_int_eq(fclose(out), 0);
    ck_assert_ptr_nonnull(strstr(text, "Usage: momd "));
    static const char *const wanted[] = {
        "  --config FILE\n",
        "  --bind ADDR\n",
        "Default: 127.0.0.1.",
        "  --port PORT\n",
        "Range: 0-65535. Default: 6380.\n",
        "  --threads N\n",
        "Range: 0-64. Default: 2.\n",
        "  --requirepass PASSWORD\n",
        "  --spill-dir DIR\n",
        "Default: $TMPDIR, else /tmp.",
        "  --log-file FILE\n",
        "Default: stderr.",
        "  --max-clients N\n",
        "Default: 10000.",
        "  --max-bulk-len SIZE\n",
        "Default: 512mb.",
        "  --max-multibulk N\n",
        "Default: 2147483647.",
        "  --max-inline SIZE\n",
        "Default: 64kb.",
        "  --query-buffer-limit SIZE\n",
        "Default: 1gb.",
        "  --sub-memory-limit SIZE\n",
        "Default: 8mb.",
        "  --sub-disk-cap SIZE\n",
        "  --disk-cap SIZE\n",
        "Default: 4gb.",
        "  --policy POLICY\n",
        "Default: disconnect.",
        "  --shutdown-timeout MS\n",
        "Default: 2000.",
        "  --retain GLOB\n",
        "  --help\n",
        "  --version\n",
    };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
        ck_assert_msg(strstr(text, wanted[i]) != NULL, "no '%s' in:\n%s",
                      wanted[i], text);
    /* Every option of the field list is in the help. */
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "  --%s", fields[i]);
        ck_assert_msg(strstr(text, flag) != NULL, "no %s", flag);
    }
    free(text);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ch06 config");
    TCase *tc = tcase_create("config");
    tcase_add_fd_guard(tc);
    tcase_add_checked_fixture(tc, temp_setup, temp_teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, every_option_in_both_forms);
    tcase_add_test(tc, flags_and_names);
    tcase_add_test(tc, retain_repeats);
    tcase_add_test(tc, bad_arguments_say_why);
    tcase_add_test(tc, messages_fit_the_buffer);
    tcase_add_test(tc, sizes_take_every_unit_and_refuse_overflow);
    tcase_add_test(tc, file_sets_options);
    tcase_add_test(tc, bad_file_lines_are_named);
    tcase_add_test(tc, unreadable_files);
    tcase_add_test(tc, flags_and_file_apply_in_order);
    tcase_add_test(tc, policy_names);
    tcase_add_test(tc, usage_lists_every_option);
    suite_add_tcase(s, tc);
    return s;
}
