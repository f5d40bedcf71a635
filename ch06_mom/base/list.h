/**
 * @file list.h
 * @brief An intrusive, circular, doubly linked list, and container_of.
 *
 * Contract
 * - A `struct list_node` is embedded in the object that is listed; the list
 *   never allocates and never frees. The owner of the object keeps it alive
 *   while it is linked.
 * - A list head is a `struct list_node` that points to itself when empty
 *   (list_init). A node that is not on any list should also be initialised,
 *   so that list_unlinked() tells the truth about it.
 * - Not thread-safe: whoever owns the list serialises access to it.
 */
#ifndef MUDUO_BASE_LIST_H
#define MUDUO_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

/**
 * @brief The address of the struct of type @p type whose member @p member
 * is at address @p ptr.
 *
 * This is how a callback that receives a pointer to an embedded member
 * (a channel, a list node) recovers the object that embeds it.
 */
#define container_of(ptr, type, member)                                        \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/** @brief A link in a circular list, or the head of one. */
struct list_node {
    struct list_node *prev; /**< Previous node (the head's is the tail). */
    struct list_node *next; /**< Next node (the head's is the first). */
};

/** @brief Makes @p node an empty list (or an unlinked node). */
static inline void list_init(struct list_node *node)
{
    node->prev = node;
    node->next = node;
}

/** @brief True when the list headed by @p head has no nodes. */
static inline bool list_empty(const struct list_node *head)
{
    return head->next == head;
}

/** @brief True when @p node, initialised, is on no list. */
static inline bool list_unlinked(const struct list_node *node)
{
    return node->next == node;
}

/** @brief Links @p node in front of @p pos (at the tail when pos is the
 * head). */
static inline void list_insert_before(struct list_node *pos,
                                      struct list_node *node)
{
    node->prev = pos->prev;
    node->next = pos;
    pos->prev->next = node;
    pos->prev = node;
}

/** @brief Appends @p node at the tail of the list headed by @p head. */
static inline void list_push_back(struct list_node *head,
                                  struct list_node *node)
{
    list_insert_before(head, node);
}

/** @brief Unlinks @p node from its list and leaves it initialised. */
static inline void list_remove(struct list_node *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    list_init(node);
}

/** @brief The first node of a non-empty list, or NULL when it is empty. */
static inline struct list_node *list_first(const struct list_node *head)
{
    return list_empty(head) ? NULL : head->next;
}

/** @brief Iterates @p pos over every node of the list headed by @p head.
 * The body must not unlink @p pos (use list_for_each_safe for that). */
#define list_for_each(pos, head)                                               \
    for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/** @brief Like list_for_each, but the body may unlink @p pos; @p tmp holds
 * the next node. */
#define list_for_each_safe(pos, tmp, head)                                     \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);           \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif /* MUDUO_BASE_LIST_H */
