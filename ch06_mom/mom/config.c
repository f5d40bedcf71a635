#include "mom/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

/* How an option's value is read and where it goes. The kind decides the
 * field's C type, so the table below is all an option needs. */
enum config_kind {
    KIND_FLAG,    /* bool; no value; command line only */
    KIND_INCLUDE, /* no field: the value is a config file to read */
    KIND_TEXT,    /* char[size], copied in */
    KIND_INT,     /* int, a plain number */
    KIND_COUNT,   /* uint64_t, a plain number */
    KIND_SIZE,    /* uint64_t, a number with an optional unit */
    KIND_STRING,  /* owned char *, replaced */
    KIND_LIST,    /* owned char ** and its size_t count, appended to */
    KIND_POLICY,  /* enum broker_policy */
};

/* Says why @p value is not acceptable, as the end of "'VALUE' ...", or
 * returns NULL when it is. For checks beyond the kind's own. */
typedef const char *config_check_fn(const char *value);

/* One option. Adding an option is adding a field to struct broker_config
 * and a row to options[]: defaults, parsing, freeing and the help text
 * all come from the row. */
struct config_option {
    const char *name;  /* long option without "--"; a file's keyword */
    enum config_kind kind;
    bool empty_unsets; /* KIND_STRING: an empty value means NULL */
    size_t offset;     /* of the field in struct broker_config */
    size_t aux;        /* KIND_TEXT: the field's size; KIND_LIST: the
                          offset of its count */
    uint64_t min, max; /* numbers: the range */
    uint64_t def;      /* numbers, KIND_POLICY: the default */
    const char *def_str; /* KIND_TEXT, KIND_STRING: the default */
    const char *def_env; /* KIND_STRING: variable that, when set and not
                            empty, gives the default instead */
    config_check_fn *check; /* KIND_TEXT, KIND_STRING, KIND_LIST: extra
                               check */
    const char *invalid; /* numbers: the message for any bad value */
    const char *arg;   /* the value's name in the help */
    const char *help;
    const char *shown_default; /* the default as the help words it, when
                                  it is not simply the value */
};

#define FIELD(f) offsetof(struct broker_config, f)
#define SIZE_UNITS "k, kb, m, mb, g or gb"

static const char *check_ipv4(const char *value);
static const char *check_peer(const char *value);
static const char *check_node_name(const char *value);

static const struct config_option options[] = {
    {.name = "config", .kind = KIND_INCLUDE, .arg = "FILE",
     .help = "Read options from FILE here: options before it are\n"
             "      overridden by the file, options after it override it."},
    {.name = "bind", .kind = KIND_TEXT, .offset = FIELD(bind),
     .aux = sizeof(((struct broker_config *)NULL)->bind),
     .def_str = CONFIG_DEFAULT_BIND, .check = check_ipv4, .arg = "ADDR",
     .help = "IPv4 address to listen on."},
    {.name = "port", .kind = KIND_INT, .offset = FIELD(port),
     .min = 0, .max = CONFIG_MAX_PORT, .def = CONFIG_DEFAULT_PORT,
     .invalid = "is not a port (1-65535, or 0 for any)", .arg = "PORT",
     .help = "TCP port to listen on; 0 takes any free port."},
    {.name = "threads", .kind = KIND_INT, .offset = FIELD(threads),
     .min = 0, .max = CONFIG_MAX_THREADS, .def = CONFIG_DEFAULT_THREADS,
     .arg = "N",
     .help = "I/O threads, each with an event loop; 0 serves every\n"
             "      connection in the main loop."},
    {.name = "requirepass", .kind = KIND_STRING, .offset = FIELD(requirepass),
     .empty_unsets = true, .arg = "PASSWORD", .shown_default = "none",
     .help = "Password that a client must send with AUTH before anything\n"
             "      else; empty for none."},
    {.name = "max-clients", .kind = KIND_COUNT, .offset = FIELD(max_clients),
     .min = 1, .max = CONFIG_MAX_COUNT, .def = CONFIG_DEFAULT_MAX_CLIENTS,
     .arg = "N", .help = "Most clients connected at once."},
    {.name = "max-bulk-len", .kind = KIND_SIZE, .offset = FIELD(max_bulk),
     .min = 1, .max = CONFIG_MAX_SIZE, .def = CONFIG_DEFAULT_MAX_BULK,
     .arg = "SIZE", .help = "Longest bulk string of a request."},
    {.name = "max-multibulk", .kind = KIND_COUNT, .offset = FIELD(max_multibulk),
     .min = 1, .max = CONFIG_MAX_COUNT, .def = CONFIG_DEFAULT_MAX_MULTIBULK,
     .arg = "N", .help = "Most arguments of a request."},
    {.name = "max-inline", .kind = KIND_SIZE, .offset = FIELD(max_inline),
     .min = 1, .max = CONFIG_MAX_SIZE, .def = CONFIG_DEFAULT_MAX_INLINE,
     .arg = "SIZE", .help = "Longest inline request or header line."},
    {.name = "query-buffer-limit", .kind = KIND_SIZE,
     .offset = FIELD(query_buffer_limit), .min = 1, .max = CONFIG_MAX_SIZE,
     .def = CONFIG_DEFAULT_QUERY_BUFFER_LIMIT, .arg = "SIZE",
     .help = "Most input of one client not yet parsed."},
    {.name = "spill-dir", .kind = KIND_STRING, .offset = FIELD(spill_dir),
     .def_str = CONFIG_DEFAULT_SPILL_DIR, .def_env = "TMPDIR", .arg = "DIR",
     .shown_default = "$TMPDIR, else " CONFIG_DEFAULT_SPILL_DIR,
     .help = "Folder of the files that a slow subscriber's output\n"
             "      spills to."},
    {.name = "sub-memory-limit", .kind = KIND_SIZE,
     .offset = FIELD(sub_memory_limit), .min = 1, .max = CONFIG_MAX_SIZE,
     .def = CONFIG_DEFAULT_SUB_MEMORY_LIMIT, .arg = "SIZE",
     .help = "Output of one subscriber held in memory before the rest\n"
             "      spills to disk."},
    {.name = "sub-disk-cap", .kind = KIND_SIZE, .offset = FIELD(sub_disk_cap),
     .min = 0, .max = CONFIG_MAX_SIZE, .def = CONFIG_DEFAULT_SUB_DISK_CAP,
     .arg = "SIZE",
     .help = "Most bytes of one subscriber's spill file; 0 spills nothing."},
    {.name = "disk-cap", .kind = KIND_SIZE, .offset = FIELD(disk_cap),
     .min = 0, .max = CONFIG_MAX_SIZE, .def = CONFIG_DEFAULT_DISK_CAP,
     .arg = "SIZE",
     .help = "Most bytes of all spill files together; 0 spills nothing."},
    {.name = "policy", .kind = KIND_POLICY, .offset = FIELD(policy),
     .def = CONFIG_DEFAULT_POLICY, .arg = "POLICY",
     .help = "What happens to a subscriber over both limits: disconnect\n"
             "      closes its connection, drop-oldest drops its oldest\n"
             "      messages."},
    {.name = "retain", .kind = KIND_LIST, .offset = FIELD(retain),
     .aux = FIELD(retain_count), .arg = "GLOB", .shown_default = "none",
     .help = "Keep the last message of the channels that GLOB matches;\n"
             "      may be given more than once."},
    {.name = "peer", .kind = KIND_LIST, .offset = FIELD(peers),
     .aux = FIELD(peer_count), .check = check_peer, .arg = "ADDR:PORT",
     .shown_default = "none",
     .help = "A broker to join in a mesh (IPv4 address and port); may be\n"
             "      given more than once. Naming one member is enough."},
    {.name = "node-name", .kind = KIND_STRING, .offset = FIELD(node_name),
     .empty_unsets = true, .check = check_node_name, .arg = "NAME",
     .shown_default = "BIND:PORT",
     .help = "This broker's name among its peers."},
    {.name = "peer-heartbeat", .kind = KIND_COUNT,
     .offset = FIELD(peer_heartbeat_ms), .min = CONFIG_MIN_PEER_HEARTBEAT_MS,
     .max = CONFIG_MAX_COUNT, .def = CONFIG_DEFAULT_PEER_HEARTBEAT_MS,
     .arg = "MS",
     .help = "Milliseconds between the PINGs on a link to a peer; a link\n"
             "      silent for three of them is closed."},
    {.name = "peer-grace", .kind = KIND_COUNT, .offset = FIELD(peer_grace_ms),
     .min = 0, .max = CONFIG_MAX_COUNT, .def = CONFIG_DEFAULT_PEER_GRACE_MS,
     .arg = "MS",
     .help = "Milliseconds that a peer whose link was lost keeps its\n"
             "      interest here, its messages spilling to disk."},
    {.name = "shutdown-timeout", .kind = KIND_COUNT,
     .offset = FIELD(shutdown_timeout_ms), .min = 0, .max = CONFIG_MAX_COUNT,
     .def = CONFIG_DEFAULT_SHUTDOWN_TIMEOUT_MS, .arg = "MS",
     .help = "Milliseconds a shutdown waits for output to drain."},
    {.name = "log-file", .kind = KIND_STRING, .offset = FIELD(log_file),
     .empty_unsets = true, .arg = "FILE", .shown_default = "stderr",
     .help = "File the log is appended to; empty for stderr."},
    {.name = "help", .kind = KIND_FLAG, .offset = FIELD(show_help),
     .help = "Print this help and exit."},
    {.name = "version", .kind = KIND_FLAG, .offset = FIELD(show_version),
     .help = "Print the version and exit."},
};

#define OPTION_COUNT (sizeof options / sizeof options[0])

static const char *const policy_names[] = {
    [BROKER_POLICY_DISCONNECT] = "disconnect",
    [BROKER_POLICY_DROP_OLDEST] = "drop-oldest",
};

#define POLICY_COUNT (sizeof policy_names / sizeof policy_names[0])

const char *broker_policy_name(enum broker_policy p)
{
    if ((size_t)p >= POLICY_COUNT)
        return "?";
    return policy_names[p];
}

static const char *check_ipv4(const char *value)
{
    struct in_addr addr;
    if (inet_pton(AF_INET, value, &addr) != 1)
        return "is not an IPv4 address (like 127.0.0.1)";
    return NULL;
}

int broker_config_parse_peer(struct inet_address *addr, const char *text)
{
    /* A port alone would mean loopback to inet_address_parse(): a peer
     * names its host. */
    if (strchr(text, ':') == NULL || inet_address_parse(addr, text) != 0 ||
        inet_address_family(addr) != AF_INET || inet_address_port(addr) == 0)
        return -EINVAL;
    return 0;
}

static const char *check_peer(const char *value)
{
    struct inet_address addr;
    if (broker_config_parse_peer(&addr, value) != 0)
        return "is not an address (like 127.0.0.1:6381)";
    return NULL;
}

static const char *check_node_name(const char *value)
{
    if (strlen(value) > CONFIG_NODE_NAME_MAX)
        return "is too long (at most 63 characters)";
    for (const char *p = value; *p != '\0'; p++)
        if (!isgraph((unsigned char)*p))
            return "has a blank or a control character";
    return NULL;
}

static void *field(struct broker_config *c, const struct config_option *o)
{
    return (char *)c + o->offset;
}

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t err_len, int code, const char *fmt, ...)
{
    if (err_len == 0)
        return code;
    va_list ap;
    va_start(ap, fmt);
    /* The analyzer loses track of va_start when clang-tidy checks more
     * than one file in a run (it does not, checking this file alone). */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return code;
}

static int set_default(struct broker_config *c, const struct config_option *o)
{
    void *f = field(c, o);
    switch (o->kind) {
    case KIND_TEXT:
        snprintf(f, o->aux, "%s", o->def_str);
        break;
    case KIND_INT:
        *(int *)f = (int)o->def;
        break;
    case KIND_COUNT:
    case KIND_SIZE:
        *(uint64_t *)f = o->def;
        break;
    case KIND_POLICY:
        *(enum broker_policy *)f = (enum broker_policy)o->def;
        break;
    case KIND_STRING: {
        const char *env = o->def_env != NULL ? getenv(o->def_env) : NULL;
        const char *def = env != NULL && env[0] != '\0' ? env : o->def_str;
        if (def != NULL && (*(char **)f = strdup(def)) == NULL)
            return -ENOMEM;
        break;
    }
    case KIND_FLAG:
    case KIND_INCLUDE:
    case KIND_LIST:
        break; /* zero from the memset */
    }
    return 0;
}

int broker_config_init(struct broker_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        int rc = set_default(c, &options[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void broker_config_destroy(struct broker_config *c)
{
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const struct config_option *o = &options[i];
        if (o->kind == KIND_STRING) {
            char **s = field(c, o);
            free(*s);
            *s = NULL;
        } else if (o->kind == KIND_LIST) {
            char ***list = field(c, o);
            size_t *count = (size_t *)((char *)c + o->aux);
            for (size_t j = 0; j < *count; j++)
                free((*list)[j]);
            free(*list);
            *list = NULL;
            *count = 0;
        }
    }
}

static const struct config_option *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (strncasecmp(options[i].name, name, len) == 0 &&
            options[i].name[len] == '\0')
            return &options[i];
    return NULL;
}

/* Multiplier of a size's unit, as Redis reads its config; 0 if none. */
static uint64_t unit_multiplier(const char *unit)
{
    static const struct {
        const char *name;
        uint64_t mul;
    } units[] = {
        {"b", 1},
        {"k", 1000},
        {"kb", 1024},
        {"m", (uint64_t)1000 * 1000},
        {"mb", (uint64_t)1024 * 1024},
        {"g", (uint64_t)1000 * 1000 * 1000},
        {"gb", (uint64_t)1024 * 1024 * 1024},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcasecmp(unit, units[i].name) == 0)
            return units[i].mul;
    return 0;
}

enum number_result { NUMBER_OK, NUMBER_BAD, NUMBER_NEGATIVE, NUMBER_TOO_LARGE };

/* Reads digits, and with @p units a unit after them; no sign, no blanks.
 * A result past UINT64_MAX is NUMBER_TOO_LARGE, not wrapped. */
static enum number_result parse_number(const char *s, bool units,
                                       uint64_t *out)
{
    if (s[0] == '-' && isdigit((unsigned char)s[1]))
        return NUMBER_NEGATIVE;
    const char *p = s;
    uint64_t v = 0;
    bool overflow = false;
    for (; isdigit((unsigned char)*p); p++) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - digit) / 10)
            overflow = true;
        else
            v = v * 10 + digit;
    }
    if (p == s)
        return NUMBER_BAD;
    uint64_t mul = 1;
    if (*p != '\0' && (!units || (mul = unit_multiplier(p)) == 0))
        return NUMBER_BAD;
    if (overflow || v > UINT64_MAX / mul)
        return NUMBER_TOO_LARGE;
    *out = v * mul;
    return NUMBER_OK;
}

/* Why @p value is not a number for option @p o, as the end of a message,
 * or NULL when *out holds it. */
static const char *read_number(const struct config_option *o,
                               const char *value, uint64_t *out, char *buf,
                               size_t len)
{
    switch (parse_number(value, o->kind == KIND_SIZE, out)) {
    case NUMBER_OK:
        break;
    case NUMBER_NEGATIVE:
        return "is negative";
    case NUMBER_BAD:
        return o->kind == KIND_SIZE
                   ? "is not a size (a number of bytes, with or without "
                     "one of the units " SIZE_UNITS ")"
                   : "is not a whole number";
    case NUMBER_TOO_LARGE:
        *out = UINT64_MAX;
        break;
    }
    if (*out < o->min) {
        snprintf(buf, len, "is too small (at least %llu)",
                 (unsigned long long)o->min);
        return buf;
    }
    if (*out > o->max) {
        snprintf(buf, len, "is too large (at most %llu)",
                 (unsigned long long)o->max);
        return buf;
    }
    return NULL;
}

static int set_number(struct broker_config *c, const struct config_option *o,
                      const char *label, const char *value, char *err,
                      size_t err_len)
{
    char buf[64];
    uint64_t v = 0;
    const char *why = read_number(o, value, &v, buf, sizeof buf);
    if (why != NULL)
        return fail(err, err_len, -EINVAL, "%s: '%s' %s", label, value,
                    o->invalid != NULL ? o->invalid : why);
    if (o->kind == KIND_INT)
        *(int *)field(c, o) = (int)v;
    else
        *(uint64_t *)field(c, o) = v;
    return 0;
}

static int append(struct broker_config *c, const struct config_option *o,
                  const char *label, const char *value, char *err,
                  size_t err_len)
{
    char ***list = field(c, o);
    size_t *count = (size_t *)((char *)c + o->aux);
    char *copy = strdup(value);
    char **grown = copy != NULL
                       ? realloc(*list, (*count + 1) * sizeof **list)
                       : NULL;
    if (grown == NULL) {
        free(copy);
        return fail(err, err_len, -ENOMEM, "%s: out of memory", label);
    }
    grown[(*count)++] = copy;
    *list = grown;
    return 0;
}

/* Applies @p value (NULL for a flag) to option @p o; @p label names the
 * option in a message, as the user wrote it ("--port", "momd.conf:3: port"). */
static int apply(struct broker_config *c, const struct config_option *o,
                 const char *label, const char *value, char *err,
                 size_t err_len)
{
    const char *why = NULL;
    if (value != NULL && o->check != NULL && (why = o->check(value)) != NULL)
        return fail(err, err_len, -EINVAL, "%s: '%s' %s", label, value, why);
    switch (o->kind) {
    case KIND_FLAG:
        *(bool *)field(c, o) = true;
        return 0;
    case KIND_INCLUDE:
        break; /* read by the caller: a file cannot include another */
    case KIND_TEXT:
        if (strlen(value) >= o->aux)
            return fail(err, err_len, -EINVAL,
                        "%s: '%s' is too long (at most %zu characters)", label,
                        value, o->aux - 1);
        snprintf(field(c, o), o->aux, "%s", value);
        return 0;
    case KIND_INT:
    case KIND_COUNT:
    case KIND_SIZE:
        return set_number(c, o, label, value, err, err_len);
    case KIND_POLICY:
        for (size_t i = 0; i < POLICY_COUNT; i++)
            if (strcasecmp(value, policy_names[i]) == 0) {
                *(enum broker_policy *)field(c, o) = (enum broker_policy)i;
                return 0;
            }
        return fail(err, err_len, -EINVAL,
                    "%s: '%s' is not a policy (disconnect or drop-oldest)",
                    label, value);
    case KIND_STRING: {
        char **s = field(c, o);
        char *copy = NULL;
        if (value[0] == '\0' && !o->empty_unsets)
            return fail(err, err_len, -EINVAL, "%s: the value is empty", label);
        if (value[0] != '\0' && (copy = strdup(value)) == NULL)
            return fail(err, err_len, -ENOMEM, "%s: out of memory", label);
        free(*s);
        *s = copy;
        return 0;
    }
    case KIND_LIST:
        if (value[0] == '\0')
            return fail(err, err_len, -EINVAL, "%s: the value is empty", label);
        return append(c, o, label, value, err, err_len);
    }
    return fail(err, err_len, -EINVAL, "%s: cannot be set", label);
}

int broker_config_parse_args(struct broker_config *c, int argc, char **argv,
                             char *err, size_t err_len)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (arg[0] == '-' && arg[1] != '\0')
                return fail(err, err_len, -EINVAL, "unknown option '%s'", arg);
            return fail(err, err_len, -EINVAL,
                        "unexpected argument '%s' (options start with --)",
                        arg);
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        /* Only the name goes into a message: the value may be a password. */
        char label[CONFIG_ERROR_CAP];
        snprintf(label, sizeof label, "--%.*s", (int)len, name);
        const struct config_option *o = find_option(name, len);
        if (o == NULL)
            return fail(err, err_len, -EINVAL, "unknown option '%s'", label);
        const char *value = NULL;
        if (o->kind == KIND_FLAG) {
            if (eq != NULL)
                return fail(err, err_len, -EINVAL, "%s takes no value", label);
        } else if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            value = argv[++i];
        } else {
            /* "--port --threads 4" lacks a value rather than having a
             * bad one; a value that starts with "--" is given with '='. */
            return fail(err, err_len, -EINVAL, "%s: missing value", label);
        }
        if (o->kind == KIND_INCLUDE && value[0] == '\0')
            return fail(err, err_len, -EINVAL, "%s: the value is empty", label);
        int rc = o->kind == KIND_INCLUDE
                     ? broker_config_load_file(c, value, err, err_len)
                     : apply(c, o, label, value, err, err_len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Splits a config line in place into its name and value (NULL when the
 * line has none); a value may be in double quotes, where a backslash
 * makes the next character stand for itself. 0, or -EINVAL with the
 * reason in *why. */
static int split_line(char *line, char **name, char **value, const char **why)
{
    char *p = line;
    *value = NULL;
    *name = p;
    p += strcspn(p, " \t");
    if (*p == '\0')
        return 0;
    *p++ = '\0';
    p += strspn(p, " \t");
    if (*p == '\0')
        return 0;
    *value = p;
    if (*p == '"') {
        char *out = p;
        for (p++; *p != '"'; p++) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            if (*p == '\0') {
                *why = "unterminated quote";
                return -EINVAL;
            }
            *out++ = *p;
        }
        *out = '\0';
        p++;
        if (*p != '\0' && *p != ' ' && *p != '\t') {
            *why = "no blank after the closing quote";
            return -EINVAL;
        }
    } else {
        p += strcspn(p, " \t");
        if (*p == '\0')
            return 0;
        *p++ = '\0';
    }
    p += strspn(p, " \t");
    if (*p != '\0') {
        *why = "more than one value";
        return -EINVAL;
    }
    return 0;
}

static int load_line(struct broker_config *c, const char *path,
                     unsigned lineno, char *line, size_t len, char *err,
                     size_t err_len)
{
    if (strlen(line) != len)
        return fail(err, err_len, -EINVAL, "%s:%u: the line holds a NUL byte",
                    path, lineno);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    line += strspn(line, " \t");
    if (line[0] == '\0' || line[0] == '#')
        return 0;
    char *name;
    char *value;
    const char *why = NULL;
    int rc = split_line(line, &name, &value, &why);
    const struct config_option *o = find_option(name, strlen(name));
    if (o == NULL)
        return fail(err, err_len, -EINVAL, "%s:%u: unknown option '%s'", path,
                    lineno, name);
    char label[CONFIG_ERROR_CAP];
    snprintf(label, sizeof label, "%s:%u: %s", path, lineno, name);
    if (o->kind == KIND_FLAG || o->kind == KIND_INCLUDE)
        return fail(err, err_len, -EINVAL, "%s: only on the command line (--%s)",
                    label, o->name);
    if (rc != 0)
        return fail(err, err_len, rc, "%s: %s", label, why);
    if (value == NULL)
        return fail(err, err_len, -EINVAL, "%s: missing value", label);
    return apply(c, o, label, value, err, err_len);
}

static const char *error_text(int code, char *buf, size_t len)
{
    return strerror_r(code, buf, len);
}

int broker_config_load_file(struct broker_config *c, const char *path,
                            char *err, size_t err_len)
{
    char text[128];
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        int e = errno;
        return fail(err, err_len, -e, "%s: cannot open: %s", path,
                    error_text(e, text, sizeof text));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0;
    int rc = 0;
    errno = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0)
        rc = load_line(c, path, ++lineno, line, (size_t)n, err, err_len);
    if (rc == 0 && ferror(f)) {
        int e = errno != 0 ? errno : EIO;
        rc = fail(err, err_len, -e, "%s: cannot read: %s", path,
                  error_text(e, text, sizeof text));
    }
    free(line);
    fclose(f);
    return rc;
}

/* Writes a size in the largest binary unit that holds it exactly. */
static void format_size(uint64_t v, char *buf, size_t len)
{
    static const char *const units[] = {"gb", "mb", "kb"};
    uint64_t mul = (uint64_t)1024 * 1024 * 1024;
    for (size_t i = 0; i < 3; i++, mul /= 1024)
        if (v != 0 && v % mul == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(v / mul),
                     units[i]);
            return;
        }
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

static void usage_option(FILE *out, const struct config_option *o)
{
    char buf[64];
    const char *def = o->shown_default;
    bool range = false;
    fprintf(out, "  --%s%s%s\n      %s\n", o->name, o->arg != NULL ? " " : "",
            o->arg != NULL ? o->arg : "", o->help);
    switch (o->kind) {
    case KIND_INT:
    case KIND_COUNT:
        range = true;
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)o->def);
        def = buf;
        break;
    case KIND_SIZE:
        format_size(o->def, buf, sizeof buf);
        def = buf;
        break;
    case KIND_POLICY:
        def = broker_policy_name((enum broker_policy)o->def);
        break;
    case KIND_TEXT:
        def = o->def_str;
        break;
    case KIND_FLAG:
    case KIND_INCLUDE:
    case KIND_STRING:
    case KIND_LIST:
        break;
    }
    if (range)
        fprintf(out, "      Range: %llu-%llu.", (unsigned long long)o->min,
                (unsigned long long)o->max);
    if (def != NULL)
        fprintf(out, "%sDefault: %s.\n", range ? " " : "      ", def);
    else if (range)
        fputc('\n', out);
}

void broker_config_usage(FILE *out, const char *prog)
{
    fprintf(out,
            "Usage: %s [--NAME VALUE | --NAME=VALUE]...\n"
            "A message broker that speaks the publish/subscribe part of the\n"
            "Redis protocol.\n\nOptions:\n",
            prog);
    for (size_t i = 0; i < OPTION_COUNT; i++)
        usage_option(out, &options[i]);
    fprintf(out,
            "\nOptions apply in order and the last one wins; --retain and\n"
            "--peer add.\n"
            "A value that starts with -- is written --NAME=VALUE.\n"
            "SIZE: a number of bytes, or a number and a unit: k = 1000,\n"
            "kb = 1024, m, mb, g, gb likewise.\n"
            "A config file holds one option a line, NAME VALUE without the\n"
            "dashes (port 6380); # starts a comment line; a value with\n"
            "blanks is written in double quotes.\n");
}
