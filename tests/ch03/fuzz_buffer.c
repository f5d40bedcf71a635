/*
 * libFuzzer target for the buffer: the input is a program of operations
 * (append, retrieve, prepend, integers, ensure_writable, shrink, search)
 * run on a buffer and on a plain byte array that models it. After every
 * operation the buffer must hold exactly the model's bytes and keep its
 * layout invariants. Run by `make fuzz`; new inputs go to build/, the
 * seeds in tests/ch03/corpus/buffer stay as they are.
 */
#include "net/buffer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_MAX (1 << 20)

struct model {
    unsigned char bytes[MODEL_MAX];
    size_t len;
};

static void check(const struct buffer *b, const struct model *m)
{
    if (buffer_readable(b) != m->len ||
        (m->len > 0 && memcmp(buffer_peek(b), m->bytes, m->len) != 0))
        abort();
    if (b->data != NULL &&
        (b->read_index > b->write_index || b->write_index > b->capacity))
        abort();
    if (buffer_writable(b) + buffer_prependable(b) + m->len !=
        (b->data == NULL ? 0 : b->capacity))
        abort();
}

static size_t take(const uint8_t **data, size_t *size, size_t n)
{
    size_t v = 0;
    for (size_t i = 0; i < n && *size > 0; i++, (*data)++, (*size)--)
        v = v << 8 | **data;
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct model m;
    struct buffer b;
    buffer_init(&b);
    m.len = 0;
    while (size > 0) {
        unsigned op = (unsigned)take(&data, &size, 1) % 9;
        size_t n = take(&data, &size, 2);
        switch (op) {
        case 0: { /* append n bytes taken from the input */
            n = n % 4096 < size ? n % 4096 : size;
            if (m.len + n > MODEL_MAX)
                break;
            if (buffer_append(&b, data, n) == 0) {
                memcpy(m.bytes + m.len, data, n);
                m.len += n;
            }
            data += n;
            size -= n;
            break;
        }
        case 1: /* retrieve */
            buffer_retrieve(&b, n);
            n = n < m.len ? n : m.len;
            memmove(m.bytes, m.bytes + n, m.len - n);
            m.len -= n;
            break;
        case 2: { /* prepend up to 8 bytes */
            unsigned char head[8];
            size_t k = n % 9;
            for (size_t i = 0; i < k; i++)
                head[i] = (unsigned char)(n + i);
            size_t room = buffer_prependable(&b);
            int err = buffer_prepend(&b, head, k);
            if (err == 0) {
                memmove(m.bytes + k, m.bytes, m.len);
                memcpy(m.bytes, head, k);
                m.len += k;
            } else if (!(err == -ENOSPC && k > room) && err != -ENOMEM) {
                abort();
            }
            break;
        }
        case 3: /* a u32 round trip at the end */
            if (m.len + 4 <= MODEL_MAX && buffer_append_u32(&b, (uint32_t)n) == 0) {
                uint32_t be = __builtin_bswap32((uint32_t)n);
                memcpy(m.bytes + m.len, &be, 4);
                m.len += 4;
            }
            break;
        case 4: /* read a u16 from the front when there is one */
            if (m.len >= 2) {
                uint16_t v = buffer_read_u16(&b);
                if (v != (uint16_t)(m.bytes[0] << 8 | m.bytes[1]))
                    abort();
                memmove(m.bytes, m.bytes + 2, m.len - 2);
                m.len -= 2;
            }
            break;
        case 5: /* make room, write in place */
            if (m.len + (n % 256) <= MODEL_MAX &&
                buffer_ensure_writable(&b, n % 65536) == 0) {
                if (buffer_writable(&b) < n % 65536)
                    abort();
                size_t k = n % 256 < n % 65536 ? n % 256 : n % 65536;
                memset(buffer_begin_write(&b), 'w', k);
                buffer_has_written(&b, k);
                memset(m.bytes + m.len, 'w', k);
                m.len += k;
            }
            break;
        case 6: /* shrink */
            (void)buffer_shrink(&b, n % 1024);
            break;
        case 7: { /* search */
            const char *crlf = buffer_find_crlf(&b);
            const char *eol = buffer_find_eol(&b);
            const unsigned char *mc = NULL, *me = memchr(m.bytes, '\n', m.len);
            for (size_t i = 0; i + 1 < m.len && mc == NULL; i++)
                if (m.bytes[i] == '\r' && m.bytes[i + 1] == '\n')
                    mc = m.bytes + i;
            if ((crlf == NULL) != (mc == NULL) || (eol == NULL) != (me == NULL))
                abort();
            if (crlf != NULL && crlf - buffer_peek(&b) != mc - m.bytes)
                abort();
            if (eol != NULL && eol - buffer_peek(&b) != me - m.bytes)
                abort();
            break;
        }
        case 8: /* retrieve everything */
            buffer_retrieve_all(&b);
            m.len = 0;
            break;
        }
        check(&b, &m);
    }
    buffer_destroy(&b);
    return 0;
}
