#include "mom/message.h"

#include "base/assertion.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for a "$<len>\r\n" header, or "*<n>\r\n". */
#define HEADER_MAX 24

/* Writes one bulk string at p; returns the end, and where its bytes
 * start in *at. */
static char *put_bulk(char *p, const char *data, size_t len, char **at)
{
    p += sprintf(p, "$%zu\r\n", len);
    *at = p;
    memcpy(p, data, len);
    p += len;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

struct message *message_new(enum message_kind kind, const char *pattern,
                            size_t pattern_len, const char *channel,
                            size_t channel_len, const char *payload,
                            size_t payload_len)
{
    static const char *const names[] = {"message", "pmessage", "smessage"};
    const char *name = names[kind];
    bool with_pattern = kind == MESSAGE_PATTERN;
    ASSERT(!with_pattern || pattern != NULL);

    size_t parts = channel_len + payload_len + strlen(name);
    size_t room = (size_t)5 * HEADER_MAX; /* the array and four headers */
    if (with_pattern)
        parts += pattern_len;
    if (parts > SIZE_MAX - room - sizeof(struct message))
        return NULL;
    struct message *m = malloc(sizeof *m + parts + room);
    if (m == NULL)
        return NULL;
    char *p = m->bytes;
    char *at = NULL;
    char *topic = NULL;
    p += sprintf(p, "*%d\r\n", with_pattern ? 4 : 3);
    p = put_bulk(p, name, strlen(name), &at);
    if (with_pattern)
        p = put_bulk(p, pattern, pattern_len, &topic);
    p = put_bulk(p, channel, channel_len, &at);
    if (!with_pattern)
        topic = at;
    p = put_bulk(p, payload, payload_len, &at);
    m->kind = kind;
    m->topic_off = (size_t)(topic - m->bytes);
    m->topic_len = with_pattern ? pattern_len : channel_len;
    m->len = (size_t)(p - m->bytes);
    atomic_init(&m->refs, 1);
    return m;
}

void message_ref(struct message *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void message_unref(struct message *m)
{
    if (m == NULL)
        return;
    /* Acquire and release: whatever a thread did with the message
     * happens before its free in whichever thread drops the last one.
     * (A release decrement with an acquire fence on the last would do,
     * but ThreadSanitizer does not follow fences.) */
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        free(m);
}
