/* The commands, table-driven: a row gives a name, Redis's arity
 * (n: exactly n arguments with the name; -n: at least n), flags and the
 * function; a command with subcommands has a table of its own. */
#include "mom/commands.h"

#include "base/timestamp.h"
#include "mom/broker_internal.h"
#include "mom/glob.h"
#include "mom/message.h"
#include "mom/peer_commands.h"
#include "mom/peers.h"
#include "mom/reply.h"
#include "mom/request.h"
#include "mom/session.h"
#include "mom/shard.h"
#include "net/tcp_conn.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Longest preview of a name or an argument in an error, as in Redis. */
#define PREVIEW_MAX 128
/* Databases that SELECT accepts (Redis's default); pub/sub ignores them. */
#define DATABASES 16

enum {
    CMD_NO_AUTH = 1,   /* may run before AUTH */
    CMD_PUBSUB_OK = 2, /* may run in subscribed context */
};

struct call {
    struct session *s;
    const struct request *req;
    struct reply *r;
};

typedef void command_fn(struct call *c);

struct command {
    const char *name;
    const char *full_name; /* as errors name it: "pubsub|channels" */
    int arity;
    unsigned flags;
    command_fn *fn;
    const struct command *subcommands; /* NULL-terminated, or NULL */
};

/* --- helpers ---------------------------------------------------------------*/

static const struct request_arg *arg(const struct call *c, size_t i)
{
    return &c->req->argv[i];
}

static bool arg_is(const struct call *c, size_t i, const char *word)
{
    const struct request_arg *a = arg(c, i);
    return a->len == strlen(word) && strncasecmp(a->ptr, word, a->len) == 0;
}

/* An argument as Redis prints it with %s: up to its first NUL. */
static int arg_printable_len(const struct request_arg *a, int max)
{
    size_t n = strnlen(a->ptr, a->len);
    return n > (size_t)max ? max : (int)n;
}

/* Redis's string2ll: optional '-', no '+', no leading zeros, no spaces. */
static bool parse_ll(const struct request_arg *a, long long *out)
{
    char text[32];
    if (a->len == 0 || a->len >= sizeof text)
        return false;
    memcpy(text, a->ptr, a->len);
    text[a->len] = '\0';
    const char *digits = text[0] == '-' ? text + 1 : text;
    if (digits[0] < '1' || digits[0] > '9')
        return strcmp(text, "0") == 0 && (*out = 0, true);
    for (const char *p = digits; *p != '\0'; p++) {
        if (!isdigit((unsigned char)*p))
            return false;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static struct broker *broker_of(const struct call *c)
{
    return c->s->shard->broker;
}

/* --- subscribe and unsubscribe ----------------------------------------------*/

static const char *const confirm_names[INTEREST_KINDS][2] = {
    [INTEREST_CHANNEL] = {"subscribe", "unsubscribe"},
    [INTEREST_PATTERN] = {"psubscribe", "punsubscribe"},
    [INTEREST_SHARD] = {"ssubscribe", "sunsubscribe"},
};

static size_t count_for(const struct session *s, enum interest_kind kind)
{
    return kind == INTEREST_SHARD ? session_shard_subscriptions(s)
                                  : session_subscriptions(s);
}

static void confirm(struct call *c, enum interest_kind kind, bool sub,
                    const char *name, size_t len)
{
    reply_array(c->r, 3);
    reply_bulk_cstr(c->r, confirm_names[kind][sub ? 0 : 1]);
    if (name != NULL)
        reply_bulk(c->r, name, len);
    else
        reply_nil(c->r);
    reply_integer(c->r, (long long)count_for(c->s, kind));
}

/* With `--retain`, a new subscriber of a retained channel gets its last
 * message right after the confirmation. */
static void push_retained(struct call *c, const struct request_arg *channel)
{
    struct message *m = shard_retained(c->s->shard, channel->ptr, channel->len);
    if (m == NULL)
        return;
    struct dict_entry *e = dict_find(&c->s->subs[INTEREST_CHANNEL],
                                     channel->ptr, channel->len);
    struct subscription *sub = e->value;
    sub->retained = m; /* takes the reference */
    reply_raw(c->r, m->bytes, m->len);
}

static void subscribe_kind(struct call *c, enum interest_kind kind)
{
    for (size_t i = 1; i < c->req->argc; i++) {
        const struct request_arg *a = arg(c, i);
        int added = shard_subscribe(c->s->shard, c->s, kind, a->ptr, a->len);
        if (added < 0) {
            c->r->err = -ENOMEM;
            return;
        }
        confirm(c, kind, true, a->ptr, a->len);
        if (added == 1 && kind == INTEREST_CHANNEL)
            push_retained(c, a);
    }
}

static void unsubscribe_kind(struct call *c, enum interest_kind kind)
{
    struct session *s = c->s;
    if (c->req->argc == 1) {
        if (list_empty(&s->order[kind])) {
            confirm(c, kind, false, NULL, 0);
            return;
        }
        while (!list_empty(&s->order[kind])) {
            struct subscription *sub = container_of(
                list_first(&s->order[kind]), struct subscription, in_session);
            /* The name lives in the entry that the unsubscribe frees. */
            size_t len = sub->own->key_len;
            char *name = malloc(len + 1);
            if (name == NULL) {
                c->r->err = -ENOMEM;
                return;
            }
            memcpy(name, sub->own->key, len);
            shard_unsubscribe(s->shard, sub);
            confirm(c, kind, false, name, len);
            free(name);
        }
        return;
    }
    for (size_t i = 1; i < c->req->argc; i++) {
        const struct request_arg *a = arg(c, i);
        struct dict_entry *e = dict_find(&s->subs[kind], a->ptr, a->len);
        if (e != NULL)
            shard_unsubscribe(s->shard, e->value);
        confirm(c, kind, false, a->ptr, a->len);
    }
}

static void cmd_subscribe(struct call *c) { subscribe_kind(c, INTEREST_CHANNEL); }
static void cmd_psubscribe(struct call *c) { subscribe_kind(c, INTEREST_PATTERN); }
static void cmd_ssubscribe(struct call *c) { subscribe_kind(c, INTEREST_SHARD); }
static void cmd_unsubscribe(struct call *c) { unsubscribe_kind(c, INTEREST_CHANNEL); }
static void cmd_punsubscribe(struct call *c) { unsubscribe_kind(c, INTEREST_PATTERN); }
static void cmd_sunsubscribe(struct call *c) { unsubscribe_kind(c, INTEREST_SHARD); }

/* --- publish -------------------------------------------------------------- */

static void publish_kind(struct call *c, enum interest_kind kind)
{
    const struct request_arg *ch = arg(c, 1);
    const struct request_arg *msg = arg(c, 2);
    long long n = shard_publish(c->s->shard, kind, ch->ptr, ch->len, msg->ptr,
                                msg->len, true);
    if (n < 0)
        c->r->err = (int)n;
    else
        reply_integer(c->r, n);
}

static void cmd_publish(struct call *c) { publish_kind(c, INTEREST_CHANNEL); }
static void cmd_spublish(struct call *c) { publish_kind(c, INTEREST_SHARD); }

/* --- PUBSUB ---------------------------------------------------------------- */

static void subcommand_syntax_error(struct call *c);

static void list_kind(struct call *c, enum interest_kind kind)
{
    /* The table lets any count through (Redis's arity is -2); the
     * subcommand itself takes one pattern at most. */
    if (c->req->argc > 3) {
        subcommand_syntax_error(c);
        return;
    }
    const struct request_arg *p = c->req->argc > 2 ? arg(c, 2) : NULL;
    interest_list(&broker_of(c)->interest, kind, p ? p->ptr : NULL,
                  p ? p->len : 0, c->r);
}

static void numsub_kind(struct call *c, enum interest_kind kind)
{
    reply_array(c->r, (c->req->argc - 2) * 2);
    for (size_t i = 2; i < c->req->argc; i++) {
        const struct request_arg *a = arg(c, i);
        reply_bulk(c->r, a->ptr, a->len);
        reply_integer(c->r, (long long)interest_count(&broker_of(c)->interest,
                                                      kind, a->ptr, a->len));
    }
}

static void cmd_pubsub_channels(struct call *c) { list_kind(c, INTEREST_CHANNEL); }
static void cmd_pubsub_shardchannels(struct call *c) { list_kind(c, INTEREST_SHARD); }
static void cmd_pubsub_numsub(struct call *c) { numsub_kind(c, INTEREST_CHANNEL); }
static void cmd_pubsub_shardnumsub(struct call *c) { numsub_kind(c, INTEREST_SHARD); }

static void cmd_pubsub_numpat(struct call *c)
{
    reply_integer(c->r, (long long)interest_names(&broker_of(c)->interest,
                                                  INTEREST_PATTERN));
}

/* Redis's own help: every subcommand it lists is one of ours. */
static void cmd_pubsub_help(struct call *c)
{
    static const char *const lines[] = {
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> "
        "(default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, "
        "excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a "
        "<pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level "
        "channel(s)",
        "HELP",
        "    Prints this help.",
    };
    size_t n = sizeof lines / sizeof lines[0];
    reply_array(c->r, n);
    for (size_t i = 0; i < n; i++)
        reply_simple(c->r, lines[i]);
}

/* --- connection ------------------------------------------------------------- */

static void cmd_ping(struct call *c)
{
    if (c->req->argc > 2) {
        reply_error(c->r, "ERR wrong number of arguments for 'ping' command");
        return;
    }
    /* In subscribed context a RESP2 client reads pushes only, so the
     * answer comes as one: ["pong", argument or ""]. */
    if (session_subscribed(c->s)) {
        reply_array(c->r, 2);
        reply_bulk_cstr(c->r, "pong");
        if (c->req->argc == 2)
            reply_bulk(c->r, arg(c, 1)->ptr, arg(c, 1)->len);
        else
            reply_bulk(c->r, "", 0);
    } else if (c->req->argc == 2) {
        reply_bulk(c->r, arg(c, 1)->ptr, arg(c, 1)->len);
    } else {
        reply_simple(c->r, "PONG");
    }
}

static void cmd_echo(struct call *c)
{
    reply_bulk(c->r, arg(c, 1)->ptr, arg(c, 1)->len);
}

static void cmd_quit(struct call *c)
{
    reply_simple(c->r, "OK");
    c->s->close_after_reply = true;
}

static void unsubscribe_all(struct session *s)
{
    for (int k = 0; k < INTEREST_KINDS; k++) {
        while (!list_empty(&s->order[k]))
            shard_unsubscribe(s->shard,
                              container_of(list_first(&s->order[k]),
                                           struct subscription, in_session));
    }
}

static void set_authenticated(struct session *s, bool yes)
{
    s->authenticated = yes;
    request_parser_set_auth_required(&s->parser, !yes);
}

static void cmd_reset(struct call *c)
{
    struct session *s = c->s;
    unsubscribe_all(s);
    free(s->name);
    s->name = NULL;
    set_authenticated(s, broker_of(c)->config->requirepass == NULL);
    reply_simple(c->r, "RESET");
}

/* Redis's check of a user and password against its only user, "default",
 * whose password is requirepass (none: any password will do). */
static bool credentials_ok(const struct call *c, const struct request_arg *user,
                           const struct request_arg *pass)
{
    const char *want = broker_of(c)->config->requirepass;
    if (user->len != 7 || memcmp(user->ptr, "default", 7) != 0)
        return false;
    return want == NULL ||
           (pass->len == strlen(want) && memcmp(pass->ptr, want, pass->len) == 0);
}

static const char wrongpass[] =
    "WRONGPASS invalid username-password pair or user is disabled.";

static void cmd_auth(struct call *c)
{
    static const struct request_arg default_user = {"default", 7};
    if (c->req->argc > 3) {
        reply_error(c->r, "ERR syntax error");
        return;
    }
    if (c->req->argc == 2 && broker_of(c)->config->requirepass == NULL) {
        reply_error(c->r, "ERR AUTH <password> called without any password "
                          "configured for the default user. Are you sure "
                          "your configuration is correct?");
        return;
    }
    const struct request_arg *user = c->req->argc == 2 ? &default_user : arg(c, 1);
    const struct request_arg *pass = arg(c, c->req->argc - 1);
    if (!credentials_ok(c, user, pass)) {
        reply_error(c->r, wrongpass);
        return;
    }
    set_authenticated(c->s, true);
    reply_simple(c->r, "OK");
}

/* CLIENT SETNAME's rule: printable ASCII without spaces. */
static bool set_name(struct call *c, const struct request_arg *name)
{
    for (size_t i = 0; i < name->len; i++) {
        if (name->ptr[i] < '!' || name->ptr[i] > '~') {
            reply_error(c->r, "ERR Client names cannot contain spaces, newlines "
                              "or special characters.");
            return false;
        }
    }
    free(c->s->name);
    c->s->name = NULL;
    if (name->len > 0 && (c->s->name = strndup(name->ptr, name->len)) == NULL) {
        c->r->err = -ENOMEM;
        return false;
    }
    return true;
}

static void cmd_hello(struct call *c)
{
    long long version = 0;
    if (c->req->argc >= 2) {
        if (!parse_ll(arg(c, 1), &version)) {
            reply_error(c->r, "ERR Protocol version is not an integer or out "
                              "of range");
            return;
        }
        /* RESP3 is beyond this broker: it says so as Redis says it of a
         * version it does not know. */
        if (version != 2) {
            reply_error(c->r, "NOPROTO unsupported protocol version");
            return;
        }
    }
    /* Each option takes effect as it is read, as in Redis: an AUTH
     * authenticates and a SETNAME names the client even when a later
     * option is wrong or the client still has to authenticate. */
    for (size_t j = 2; j < c->req->argc; j++) {
        size_t more = c->req->argc - 1 - j;
        if (arg_is(c, j, "AUTH") && more >= 2) {
            if (!credentials_ok(c, arg(c, j + 1), arg(c, j + 2))) {
                reply_error(c->r, wrongpass);
                return;
            }
            set_authenticated(c->s, true);
            j += 2;
        } else if (arg_is(c, j, "SETNAME") && more >= 1) {
            if (!set_name(c, arg(c, ++j)))
                return;
        } else {
            reply_errorf(c->r, "ERR Syntax error in HELLO option '%.*s'",
                         arg_printable_len(arg(c, j), INT_MAX), arg(c, j)->ptr);
            return;
        }
    }
    if (!c->s->authenticated) {
        reply_error(c->r, "NOAUTH HELLO must be called with the client already "
                          "authenticated, otherwise the HELLO AUTH <user> "
                          "<pass> option can be used to authenticate the "
                          "client and select the RESP protocol version at the "
                          "same time");
        return;
    }
    reply_array(c->r, 14);
    reply_bulk_cstr(c->r, "server");
    reply_bulk_cstr(c->r, "redis");
    reply_bulk_cstr(c->r, "version");
    reply_bulk_cstr(c->r, BROKER_REDIS_VERSION);
    reply_bulk_cstr(c->r, "proto");
    reply_integer(c->r, 2);
    reply_bulk_cstr(c->r, "id");
    reply_integer(c->r, (long long)c->s->id);
    reply_bulk_cstr(c->r, "mode");
    reply_bulk_cstr(c->r, "standalone");
    reply_bulk_cstr(c->r, "role");
    reply_bulk_cstr(c->r, "master");
    reply_bulk_cstr(c->r, "modules");
    reply_array(c->r, 0);
}

static void cmd_select(struct call *c)
{
    long long db;
    if (!parse_ll(arg(c, 1), &db)) {
        reply_error(c->r, "ERR value is not an integer or out of range");
        return;
    }
    if (db < INT_MIN || db > INT_MAX) {
        reply_errorf(c->r, "ERR value is out of range, value must between %d "
                           "and %d", INT_MIN, INT_MAX);
        return;
    }
    if (db < 0 || db >= DATABASES) {
        reply_error(c->r, "ERR DB index is out of range");
        return;
    }
    reply_simple(c->r, "OK");
}

static void cmd_client_id(struct call *c)
{
    reply_integer(c->r, (long long)c->s->id);
}

static void cmd_client_getname(struct call *c)
{
    if (c->s->name == NULL)
        reply_nil(c->r);
    else
        reply_bulk_cstr(c->r, c->s->name);
}

static void cmd_client_setname(struct call *c)
{
    if (set_name(c, arg(c, 2)))
        reply_simple(c->r, "OK");
}

/* --- server ------------------------------------------------------------------ */

/* Whether a pattern of CONFIG GET matches @p name in any case, as in
 * Redis: the settings' names are in lower case, so the pattern goes too. */
static bool config_pattern_match(struct call *c, const struct request_arg *a,
                                 const char *name)
{
    char *lower = malloc(a->len + 1);
    if (lower == NULL) {
        c->r->err = -ENOMEM;
        return false;
    }
    for (size_t k = 0; k < a->len; k++)
        lower[k] = (char)tolower((unsigned char)a->ptr[k]);
    bool match = glob_match(lower, a->len, name, strlen(name));
    free(lower);
    return match;
}

/* CONFIG GET answers the few settings that clients ask for at start
 * (redis-benchmark asks for save and appendonly). Names are matched in
 * any case, as in Redis: a plain name is answered under the spelling it
 * was asked with, a pattern's matches under their own names. */
static void cmd_config_get(struct call *c)
{
    const struct broker_config *cfg = broker_of(c)->config;
    char clients[32];
    char port[16];
    snprintf(clients, sizeof clients, "%" PRIu64, cfg->max_clients);
    snprintf(port, sizeof port, "%d", broker_port(broker_of(c)));
    const char *const table[][2] = {
        {"appendonly", "no"}, {"bind", cfg->bind}, {"maxclients", clients},
        {"port", port},       {"save", ""},
    };
    size_t n = sizeof table / sizeof table[0];
    const struct request_arg *asked[sizeof table / sizeof table[0]] = {NULL};
    bool hit[sizeof table / sizeof table[0]] = {false};
    size_t count = 0;
    for (size_t i = 2; i < c->req->argc; i++) {
        const struct request_arg *a = arg(c, i);
        bool pattern = memchr(a->ptr, '*', a->len) != NULL ||
                       memchr(a->ptr, '?', a->len) != NULL ||
                       memchr(a->ptr, '[', a->len) != NULL;
        for (size_t j = 0; j < n; j++) {
            if (hit[j])
                continue;
            if (pattern ? config_pattern_match(c, a, table[j][0])
                        : arg_is(c, i, table[j][0])) {
                hit[j] = true;
                asked[j] = pattern ? NULL : a;
                count++;
            }
        }
    }
    reply_array(c->r, count * 2);
    for (size_t j = 0; j < n; j++) {
        if (!hit[j])
            continue;
        if (asked[j] != NULL)
            reply_bulk(c->r, asked[j]->ptr, asked[j]->len);
        else
            reply_bulk_cstr(c->r, table[j][0]);
        reply_bulk_cstr(c->r, table[j][1]);
    }
}

static const struct command command_table[];

static void cmd_command_count(struct call *c);

/* PEER: another broker wants this connection as its link (peers.h). */
static void cmd_peer(struct call *c)
{
    peer_command_accept(c->s, c->req, c->r);
}

/* COMMAND and COMMAND DOCS: an empty answer, which redis-cli takes as "no
 * hints to show". */
static void cmd_command_empty(struct call *c)
{
    reply_array(c->r, 0);
}

static void cmd_info(struct call *c)
{
    struct broker *b = broker_of(c);
    const struct broker_counters *n = &b->count;
    uint64_t commands = 0, published = 0, delivered = 0, bytes_out = 0;
    for (int i = 0; i < b->shard_count; i++) {
        const struct shard_counters *sc = &b->shards[i].count;
        commands += atomic_load_explicit(&sc->commands, memory_order_relaxed);
        published += atomic_load_explicit(&sc->published, memory_order_relaxed);
        delivered += atomic_load_explicit(&sc->delivered, memory_order_relaxed);
        bytes_out += atomic_load_explicit(&sc->bytes_out, memory_order_relaxed);
    }
    char text[2048];
    int64_t up = (timestamp_mono_us() - b->started_us) / 1000000;
    int len = snprintf(
        text, sizeof text,
        "# Server\r\n"
        "redis_version:%s\r\n"
        "momd_version:%s\r\n"
        "redis_mode:standalone\r\n"
        "process_id:%ld\r\n"
        "tcp_port:%d\r\n"
        "uptime_in_seconds:%" PRId64 "\r\n"
        "io_threads:%d\r\n"
        "\r\n# Clients\r\n"
        "connected_clients:%" PRIdFAST64 "\r\n"
        "maxclients:%" PRIu64 "\r\n"
        "\r\n# Stats\r\n"
        "total_connections_received:%" PRIuFAST64 "\r\n"
        "rejected_connections:%" PRIuFAST64 "\r\n"
        "total_commands_processed:%" PRIu64 "\r\n"
        "pubsub_channels:%" PRIu64 "\r\n"
        "pubsub_patterns:%" PRIu64 "\r\n"
        "pubsub_shardchannels:%" PRIu64 "\r\n"
        "messages_published:%" PRIu64 "\r\n"
        "messages_delivered:%" PRIu64 "\r\n"
        "bytes_queued_out:%" PRIu64 "\r\n"
        "\r\n# Spill\r\n"
        "spill_dir:%s\r\n"
        "spill_policy:%s\r\n"
        "spill_bytes_now:%" PRIdFAST64 "\r\n"
        "spill_bytes_total:%" PRIuFAST64 "\r\n"
        "spill_dropped_messages:%" PRIuFAST64 "\r\n"
        "slow_clients_closed:%" PRIuFAST64 "\r\n",
        BROKER_REDIS_VERSION, BROKER_VERSION, (long)getpid(), broker_port(b), up,
        b->shard_count, atomic_load(&n->clients), b->config->max_clients,
        atomic_load(&n->connections), atomic_load(&n->rejected),
        commands,
        interest_names(&b->interest, INTEREST_CHANNEL),
        interest_names(&b->interest, INTEREST_PATTERN),
        interest_names(&b->interest, INTEREST_SHARD),
        published, delivered, bytes_out, b->config->spill_dir,
        broker_policy_name(b->config->policy), atomic_load(&n->disk_bytes),
        atomic_load(&n->spilled_bytes), atomic_load(&n->dropped),
        atomic_load(&n->slow_closed));
    if (len < 0 || (size_t)len >= sizeof text)
        len = (int)strlen(text);
    struct buffer all;
    buffer_init(&all);
    if (buffer_append(&all, text, (size_t)len) != 0)
        c->r->err = -ENOMEM;
    peers_info(b->peers, &all);
    reply_bulk(c->r, buffer_peek(&all), buffer_readable(&all));
    buffer_destroy(&all);
}

/* --- the tables ------------------------------------------------------------- */

static const struct command pubsub_subcommands[] = {
    {"channels", "pubsub|channels", -2, 0, cmd_pubsub_channels, NULL},
    {"numsub", "pubsub|numsub", -2, 0, cmd_pubsub_numsub, NULL},
    {"numpat", "pubsub|numpat", 2, 0, cmd_pubsub_numpat, NULL},
    {"shardchannels", "pubsub|shardchannels", -2, 0, cmd_pubsub_shardchannels, NULL},
    {"shardnumsub", "pubsub|shardnumsub", -2, 0, cmd_pubsub_shardnumsub, NULL},
    {"help", "pubsub|help", 2, 0, cmd_pubsub_help, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};

static const struct command client_subcommands[] = {
    {"id", "client|id", 2, 0, cmd_client_id, NULL},
    {"getname", "client|getname", 2, 0, cmd_client_getname, NULL},
    {"setname", "client|setname", 3, 0, cmd_client_setname, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};

static const struct command config_subcommands[] = {
    {"get", "config|get", -3, 0, cmd_config_get, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};

static const struct command command_subcommands[] = {
    {"count", "command|count", 2, 0, cmd_command_count, NULL},
    {"docs", "command|docs", -2, 0, cmd_command_empty, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};

static const struct command command_table[] = {
    {"subscribe", "subscribe", -2, CMD_PUBSUB_OK, cmd_subscribe, NULL},
    {"unsubscribe", "unsubscribe", -1, CMD_PUBSUB_OK, cmd_unsubscribe, NULL},
    {"psubscribe", "psubscribe", -2, CMD_PUBSUB_OK, cmd_psubscribe, NULL},
    {"punsubscribe", "punsubscribe", -1, CMD_PUBSUB_OK, cmd_punsubscribe, NULL},
    {"ssubscribe", "ssubscribe", -2, CMD_PUBSUB_OK, cmd_ssubscribe, NULL},
    {"sunsubscribe", "sunsubscribe", -1, CMD_PUBSUB_OK, cmd_sunsubscribe, NULL},
    {"publish", "publish", 3, 0, cmd_publish, NULL},
    {"spublish", "spublish", 3, 0, cmd_spublish, NULL},
    {"pubsub", "pubsub", -2, 0, NULL, pubsub_subcommands},
    {"ping", "ping", -1, CMD_PUBSUB_OK, cmd_ping, NULL},
    {"echo", "echo", 2, 0, cmd_echo, NULL},
    {"quit", "quit", -1, CMD_PUBSUB_OK | CMD_NO_AUTH, cmd_quit, NULL},
    {"reset", "reset", 1, CMD_PUBSUB_OK | CMD_NO_AUTH, cmd_reset, NULL},
    {"auth", "auth", -2, CMD_NO_AUTH, cmd_auth, NULL},
    {"hello", "hello", -1, CMD_NO_AUTH, cmd_hello, NULL},
    {"select", "select", 2, 0, cmd_select, NULL},
    {"client", "client", -2, 0, NULL, client_subcommands},
    {"config", "config", -2, 0, NULL, config_subcommands},
    {"command", "command", -1, 0, cmd_command_empty, command_subcommands},
    {"info", "info", -1, 0, cmd_info, NULL},
    {"peer", "peer", -4, CMD_NO_AUTH, cmd_peer, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};

static void cmd_command_count(struct call *c)
{
    long long n = 0;
    for (const struct command *cmd = command_table; cmd->name != NULL; cmd++)
        n++;
    reply_integer(c->r, n);
}

static const struct command *find(const struct command *table,
                                  const struct request_arg *name)
{
    for (const struct command *cmd = table; cmd->name != NULL; cmd++) {
        if (strlen(cmd->name) == name->len &&
            strncasecmp(cmd->name, name->ptr, name->len) == 0)
            return cmd;
    }
    return NULL;
}

static void unknown_command(struct call *c)
{
    char args[PREVIEW_MAX * 2 + 8];
    size_t used = 0;
    args[0] = '\0';
    for (size_t i = 1; i < c->req->argc && used < PREVIEW_MAX; i++) {
        int room = PREVIEW_MAX - (int)used;
        int n = snprintf(args + used, sizeof args - used, "'%.*s' ",
                         arg_printable_len(arg(c, i), room), arg(c, i)->ptr);
        used += (size_t)n;
    }
    reply_errorf(c->r, "ERR unknown command '%.*s', with args beginning with: %s",
                 arg_printable_len(arg(c, 0), PREVIEW_MAX), arg(c, 0)->ptr, args);
}

/* The command's name in capitals, as the subcommand errors show it. */
static void container_name(const struct call *c, char out[PREVIEW_MAX + 1])
{
    int n = arg_printable_len(arg(c, 0), PREVIEW_MAX);
    for (int i = 0; i < n; i++)
        out[i] = (char)toupper((unsigned char)arg(c, 0)->ptr[i]);
    out[n] = '\0';
}

static void unknown_subcommand(struct call *c)
{
    char container[PREVIEW_MAX + 1];
    container_name(c, container);
    reply_errorf(c->r, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                 arg_printable_len(arg(c, 1), PREVIEW_MAX), arg(c, 1)->ptr,
                 container);
}

/* A known subcommand whose own argument check failed. */
static void subcommand_syntax_error(struct call *c)
{
    char container[PREVIEW_MAX + 1];
    container_name(c, container);
    reply_errorf(c->r,
                 "ERR unknown subcommand or wrong number of arguments for "
                 "'%.*s'. Try %s HELP.",
                 arg_printable_len(arg(c, 1), PREVIEW_MAX), arg(c, 1)->ptr,
                 container);
}

static bool arity_ok(const struct command *cmd, size_t argc)
{
    return cmd->arity >= 0 ? argc == (size_t)cmd->arity
                           : argc >= (size_t)-cmd->arity;
}

static void run(struct call *c)
{
    /* An HTTP request sent here by a web page (cross-protocol scripting)
     * must not run its body's lines as commands: Redis closes at once,
     * without a reply, on these two names. */
    if (arg_is(c, 0, "post") || arg_is(c, 0, "host:")) {
        session_kill(c->s, "possible cross-protocol attack (POST or Host:)");
        return;
    }
    const struct command *cmd = find(command_table, arg(c, 0));
    if (cmd == NULL && peer_command_is_link_only(arg(c, 0))) {
        reply_errorf(c->r, "ERR '%.*s' is a peer command: send PEER first",
                     arg_printable_len(arg(c, 0), PREVIEW_MAX), arg(c, 0)->ptr);
        return;
    }
    if (cmd == NULL) {
        unknown_command(c);
        return;
    }
    if (cmd->subcommands != NULL && c->req->argc >= 2) {
        const struct command *sub = find(cmd->subcommands, arg(c, 1));
        if (sub == NULL) {
            unknown_subcommand(c);
            return;
        }
        cmd = sub;
    }
    if (!arity_ok(cmd, c->req->argc)) {
        reply_errorf(c->r, "ERR wrong number of arguments for '%s' command",
                     cmd->full_name);
        return;
    }
    if (!c->s->authenticated && (cmd->flags & CMD_NO_AUTH) == 0) {
        reply_error(c->r, "NOAUTH Authentication required.");
        return;
    }
    if (session_subscribed(c->s) && (cmd->flags & CMD_PUBSUB_OK) == 0) {
        reply_errorf(c->r,
                     "ERR Can't execute '%s': only (P|S)SUBSCRIBE / "
                     "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in "
                     "this context",
                     cmd->full_name);
        return;
    }
    cmd->fn(c);
}

void command_execute(struct session *s, const struct request *req)
{
    struct buffer *out = &s->shard->scratch;
    buffer_retrieve_all(out);
    struct reply r = {.buf = out, .err = 0};
    struct call c = {.s = s, .req = req, .r = &r};
    shard_count(&s->shard->count.commands, 1);
    if (s->peer != NULL)
        peer_command_execute(s, req, &r); /* a link, or one we dialed */
    else
        run(&c);
    if (r.err != 0) {
        session_kill(s, "out of memory for a reply");
        return;
    }
    session_output(s, buffer_peek(out), buffer_readable(out), false);
    buffer_retrieve_all(out);
}
