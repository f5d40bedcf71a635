#include "net/inet_address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int inet_address_from_ip(struct inet_address *addr, const char *ip,
                         uint16_t port)
{
    memset(addr, 0, sizeof *addr);
    if (inet_pton(AF_INET, ip, &addr->u.v4.sin_addr) == 1) {
        addr->u.v4.sin_family = AF_INET;
        addr->u.v4.sin_port = htons(port);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &addr->u.v6.sin6_addr) == 1) {
        addr->u.v6.sin6_family = AF_INET6;
        addr->u.v6.sin6_port = htons(port);
        return 0;
    }
    return -EINVAL;
}

static int parse_port(const char *text, uint16_t *port)
{
    if (*text < '0' || *text > '9') /* strtol would skip spaces, take signs */
        return -EINVAL;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (*end != '\0' || errno != 0 || v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

int inet_address_parse(struct inet_address *addr, const char *text)
{
    char ip[INET6_ADDRSTRLEN];
    uint16_t port;
    const char *colon;
    if (text[0] == '[') { /* [v6]:port */
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':' ||
            (size_t)(close - text - 1) >= sizeof ip)
            return -EINVAL;
        memcpy(ip, text + 1, (size_t)(close - text - 1));
        ip[close - text - 1] = '\0';
        colon = close + 1;
    } else if ((colon = strrchr(text, ':')) != NULL) { /* v4:port */
        if ((size_t)(colon - text) >= sizeof ip || strchr(text, ':') != colon)
            return -EINVAL;
        memcpy(ip, text, (size_t)(colon - text));
        ip[colon - text] = '\0';
    } else { /* port alone */
        if (parse_port(text, &port) != 0)
            return -EINVAL;
        inet_address_loopback(addr, port, false);
        return 0;
    }
    if (parse_port(colon + 1, &port) != 0 ||
        inet_address_from_ip(addr, ip, port) != 0)
        return -EINVAL;
    /* Brackets are for IPv6 only, and IPv6 needs them (its colons). */
    if ((text[0] == '[') != (inet_address_family(addr) == AF_INET6))
        return -EINVAL;
    return 0;
}

/* A well-known address of either family: the v4 one in host order (it is
 * a number), the v6 one as it is (it is bytes). */
static void set_address(struct inet_address *addr, uint16_t port, bool ipv6,
                        uint32_t v4_host_order, const struct in6_addr *v6)
{
    memset(addr, 0, sizeof *addr);
    if (ipv6) {
        addr->u.v6.sin6_family = AF_INET6;
        addr->u.v6.sin6_addr = *v6;
        addr->u.v6.sin6_port = htons(port);
    } else {
        addr->u.v4.sin_family = AF_INET;
        addr->u.v4.sin_addr.s_addr = htonl(v4_host_order);
        addr->u.v4.sin_port = htons(port);
    }
}

void inet_address_loopback(struct inet_address *addr, uint16_t port,
                           bool ipv6)
{
    set_address(addr, port, ipv6, INADDR_LOOPBACK, &in6addr_loopback);
}

void inet_address_any(struct inet_address *addr, uint16_t port, bool ipv6)
{
    set_address(addr, port, ipv6, INADDR_ANY, &in6addr_any);
}

int inet_address_from_sockaddr(struct inet_address *addr,
                               const struct sockaddr *sa, socklen_t len)
{
    memset(addr, 0, sizeof *addr);
    if (sa->sa_family == AF_INET && len >= sizeof addr->u.v4) {
        memcpy(&addr->u.v4, sa, sizeof addr->u.v4);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof addr->u.v6) {
        memcpy(&addr->u.v6, sa, sizeof addr->u.v6);
        return 0;
    }
    return -EAFNOSUPPORT;
}

int inet_address_family(const struct inet_address *addr)
{
    return addr->u.sa.sa_family;
}

uint16_t inet_address_port(const struct inet_address *addr)
{
    return ntohs(addr->u.sa.sa_family == AF_INET6 ? addr->u.v6.sin6_port
                                                  : addr->u.v4.sin_port);
}

const struct sockaddr *inet_address_sockaddr(const struct inet_address *addr,
                                             socklen_t *len)
{
    *len = addr->u.sa.sa_family == AF_INET6 ? sizeof addr->u.v6
                                             : sizeof addr->u.v4;
    return &addr->u.sa;
}

bool inet_address_equal(const struct inet_address *a,
                        const struct inet_address *b)
{
    if (a->u.sa.sa_family != b->u.sa.sa_family ||
        inet_address_port(a) != inet_address_port(b))
        return false;
    if (a->u.sa.sa_family == AF_INET6)
        return memcmp(&a->u.v6.sin6_addr, &b->u.v6.sin6_addr,
                      sizeof a->u.v6.sin6_addr) == 0;
    return a->u.v4.sin_addr.s_addr == b->u.v4.sin_addr.s_addr;
}

char *inet_address_ip_string(const struct inet_address *addr, char *buf,
                             size_t len)
{
    const void *src = addr->u.sa.sa_family == AF_INET6
                          ? (const void *)&addr->u.v6.sin6_addr
                          : (const void *)&addr->u.v4.sin_addr;
    if (inet_ntop(addr->u.sa.sa_family, src, buf, (socklen_t)len) == NULL &&
        len > 0)
        buf[0] = '\0';
    return buf;
}

char *inet_address_to_string(const struct inet_address *addr, char *buf,
                             size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    inet_address_ip_string(addr, ip, sizeof ip);
    bool v6 = addr->u.sa.sa_family == AF_INET6;
    snprintf(buf, len, "%s%s%s:%u", v6 ? "[" : "", ip, v6 ? "]" : "",
             (unsigned)inet_address_port(addr));
    return buf;
}
