/**
 * @file commands.h
 * @brief The broker's commands: what each request does and what it
 * answers, with the texts and the checks of redis-server 7.
 *
 * A command is looked up by its name (any case), then its subcommand for
 * the commands that have them (PUBSUB, CLIENT, CONFIG, COMMAND); then the
 * number of arguments is checked, then authentication, then whether a
 * client in subscribed context may run it. Each step fails with Redis's
 * error, in Redis's order, and the connection stays open.
 *
 * Contract: loop thread of the session only.
 */
#ifndef MUDUO_MOM_COMMANDS_H
#define MUDUO_MOM_COMMANDS_H

struct request;
struct session;

/** @brief Runs one request of @p s and queues its reply. */
void command_execute(struct session *s, const struct request *req);

#endif /* MUDUO_MOM_COMMANDS_H */
