/**
 * @file request.h
 * @brief The request parser of the broker: the Redis protocol (RESP2) as a
 * client sends it, turned into commands (an argument vector each).
 *
 * A client writes either form, and may mix them on one connection:
 * - multibulk: `*N\r\n` then N times `$LEN\r\n` LEN bytes and two more
 *   bytes (meant to be `\r\n`); what every client library sends;
 * - inline: one line of words separated by blanks, ending with `\n`
 *   (a `\r` before it is dropped); what a person types into a terminal.
 *   A word may be quoted: in "double quotes" the escapes \\n \\r \\t \\b
 *   \\a, \\xHH (two hex digits) and a backslash before any other
 *   character (which stands for itself); in 'single quotes' only \\'.
 *   A closing quote must be followed by a blank or the end of the line.
 *
 * An empty line, an inline line of blanks, `*0` and a negative count
 * make no command: the bytes are consumed and parsing goes on.
 *
 * The rules and the error texts are those of redis-server 7, so that a
 * client sees the broker answer a broken request as Redis would (the
 * caller sends "-ERR " + request_parser_error() + "\r\n" and closes the
 * connection). Bytes that Redis never looks at are not looked at either:
 * the byte after the `\r` of a header line and the two bytes after a
 * bulk string are skipped unread. A NUL byte in an inline line or in a
 * header line hides the end of that line: the parser waits for more, up
 * to the size limit, as Redis does.
 *
 * A request may arrive cut at any byte: a header, a line or a bulk string
 * that is not complete is left unconsumed, and the parser remembers the
 * arguments it already took. Feeding the same bytes in any pieces gives
 * the same commands and the same error. The size limits count what is
 * pending without the end of its line, so they too do not depend on how
 * the bytes were cut (Redis checks them per read: a line longer than the
 * limit that arrives whole with its newline in one read gets through
 * there, never here).
 *
 * Contract
 * - A parser is embedded (request_parser_init/destroy), one per
 *   connection, and is not thread-safe: one owner (the connection's
 *   loop thread).
 * - Arguments are copied into storage that the parser owns: the argv of a
 *   command is valid until the next call on the same parser (parse, next,
 *   destroy), and the caller's bytes may be consumed at once.
 * - After an error the parser stays failed: every later call returns the
 *   same error and consumes nothing.
 * - Memory: the parser allocates as the arguments arrive, never from a
 *   count announced by the client; a bulk string is taken only once it
 *   is complete in the caller's bytes.
 */
#ifndef MUDUO_MOM_REQUEST_H
#define MUDUO_MOM_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

struct buffer;

/** @brief Longest line (inline request, `*N` or `$LEN` header) that may be
 * pending without its end (Redis's PROTO_INLINE_MAX_SIZE). */
#define REQUEST_MAX_INLINE ((size_t)64 * 1024)
/** @brief Most arguments of a multibulk request (Redis: INT_MAX). */
#define REQUEST_MAX_MULTIBULK 2147483647LL
/** @brief Longest bulk string (Redis's proto-max-bulk-len default). */
#define REQUEST_MAX_BULK (512LL * 1024 * 1024)
/** @brief Most arguments before the client has authenticated. */
#define REQUEST_UNAUTH_MAX_MULTIBULK 10LL
/** @brief Longest bulk string before the client has authenticated. */
#define REQUEST_UNAUTH_MAX_BULK 16384LL
/** @brief Room for the longest error text, with its NUL. */
#define REQUEST_ERROR_CAP 64

/** @brief The limits of a parser; request_limits_default() gives Redis's. */
struct request_limits {
    size_t max_inline;             /**< REQUEST_MAX_INLINE */
    long long max_multibulk;       /**< REQUEST_MAX_MULTIBULK */
    long long max_bulk;            /**< REQUEST_MAX_BULK */
    long long unauth_max_multibulk; /**< REQUEST_UNAUTH_MAX_MULTIBULK */
    long long unauth_max_bulk;     /**< REQUEST_UNAUTH_MAX_BULK */
};

/** @brief One argument: @p len bytes at @p ptr (not NUL-terminated). */
struct request_arg {
    const char *ptr; /**< The bytes, owned by the parser. */
    size_t len;      /**< How many. */
};

/** @brief A complete command; argc >= 1. */
struct request {
    size_t argc;                   /**< Number of arguments. */
    const struct request_arg *argv; /**< argc arguments, argv[0] the name. */
};

/** @brief The parser; fields are private, use the functions. */
struct request_parser {
    struct request_limits limits; /**< Copied at init. */
    bool auth_required;   /**< The stricter limits apply. */
    bool in_multibulk;    /**< Inside a `*N` request. */
    long long remaining;  /**< Bulk strings still to come. */
    long long bulk_len;   /**< Length of the announced bulk, or -1. */
    char *bytes;          /**< The arguments' bytes, back to back. */
    size_t bytes_len;     /**< Bytes used. */
    size_t bytes_cap;     /**< Bytes allocated. */
    size_t *ends;         /**< Where each argument ends in bytes. */
    struct request_arg *argv; /**< Built when a command is complete. */
    size_t argc;          /**< Arguments taken so far. */
    size_t args_cap;      /**< Room of ends and argv. */
    int error;            /**< 0, or the error the parser stopped on. */
    char message[REQUEST_ERROR_CAP]; /**< Text of a protocol error. */
};

/** @brief Redis's limits (the REQUEST_* constants). */
struct request_limits request_limits_default(void);

/** @brief Makes a parser with @p limits (NULL: the defaults), expecting
 * a new request; the stricter limits are off. */
void request_parser_init(struct request_parser *p,
                         const struct request_limits *limits);
/** @brief Frees the parser's storage (an argv it returned goes too). */
void request_parser_destroy(struct request_parser *p);

/** @brief Whether the client still has to authenticate: while true, the
 * unauthenticated limits apply to the next headers parsed. */
void request_parser_set_auth_required(struct request_parser *p,
                                      bool required);

/**
 * @brief Parses from @p data (@p len bytes): takes at most one command.
 *
 * @p consumed is set to the bytes used, complete commands or parts of one
 * (the caller drops them and passes the rest again, with more bytes after
 * it, next time).
 * @return 1 with @p out set to a command; 0 when the bytes hold no complete
 * command (everything usable is consumed); -EPROTO on a protocol error
 * (text in request_parser_error()); -ENOMEM when storage for an argument
 * could not be had (the parser is then failed too).
 */
int request_parser_parse(struct request_parser *p, const char *data,
                         size_t len, size_t *consumed, struct request *out);

/** @brief request_parser_parse() on the readable bytes of @p in,
 * retrieving the bytes it consumed. */
int request_parser_next(struct request_parser *p, struct buffer *in,
                        struct request *out);

/** @brief The text of the protocol error the parser stopped on, as Redis
 * words it (without "-ERR "), or "" while there is none. */
const char *request_parser_error(const struct request_parser *p);

#endif /* MUDUO_MOM_REQUEST_H */
