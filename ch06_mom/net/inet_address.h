/**
 * @file inet_address.h
 * @brief An IPv4 or IPv6 socket address (IP and port), by value.
 *
 * Contract
 * - A plain value: copy it freely; it owns nothing.
 * - Thread-safe: functions only read or write the struct they are given.
 * - Text forms: "127.0.0.1:8080" and "[::1]:8080".
 */
#ifndef MUDUO_NET_INET_ADDRESS_H
#define MUDUO_NET_INET_ADDRESS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/** @brief Longest text form, "[v6 address]:port", with the NUL. */
#define INET_ADDRESS_STRLEN (INET6_ADDRSTRLEN + 8)

/** @brief An IPv4 or IPv6 address and port. */
struct inet_address {
    /** The address; sa.sa_family says which member is valid. */
    union {
        struct sockaddr sa;       /**< For the family. */
        struct sockaddr_in v4;    /**< When AF_INET. */
        struct sockaddr_in6 v6;   /**< When AF_INET6. */
    } u;
};

/**
 * @brief Parses an IP address ("127.0.0.1", "::1") and a port.
 * @return 0, or -EINVAL when @p ip is neither IPv4 nor IPv6 text.
 */
int inet_address_from_ip(struct inet_address *addr, const char *ip,
                         uint16_t port);

/**
 * @brief Parses "ip:port", "[ipv6]:port" or "port" (loopback IPv4).
 * @return 0, or -EINVAL for anything else (a port outside 0-65535, a host
 * name: no name lookups here).
 */
int inet_address_parse(struct inet_address *addr, const char *text);

/** @brief The loopback address (127.0.0.1 or ::1) and @p port. */
void inet_address_loopback(struct inet_address *addr, uint16_t port,
                           bool ipv6);

/** @brief The wildcard address (0.0.0.0 or ::) and @p port. */
void inet_address_any(struct inet_address *addr, uint16_t port, bool ipv6);

/** @brief Takes an address from the kernel (accept, getsockname).
 * @return 0, or -EAFNOSUPPORT for a family other than IPv4/IPv6. */
int inet_address_from_sockaddr(struct inet_address *addr,
                               const struct sockaddr *sa, socklen_t len);

/** @brief AF_INET or AF_INET6. */
int inet_address_family(const struct inet_address *addr);

/** @brief The port, in host byte order. */
uint16_t inet_address_port(const struct inet_address *addr);

/** @brief The sockaddr to pass to bind/connect, and its length. */
const struct sockaddr *inet_address_sockaddr(const struct inet_address *addr,
                                             socklen_t *len);

/** @brief True when both are the same family, IP and port. */
bool inet_address_equal(const struct inet_address *a,
                        const struct inet_address *b);

/** @brief Writes "ip:port" or "[ip]:port" into @p buf. @return @p buf. */
char *inet_address_to_string(const struct inet_address *addr, char *buf,
                             size_t len);

/** @brief Writes just the IP into @p buf. @return @p buf. */
char *inet_address_ip_string(const struct inet_address *addr, char *buf,
                             size_t len);

#endif /* MUDUO_NET_INET_ADDRESS_H */
