/* log.h: leveled logging to stderr, syslog or a file. */
#ifndef SHEATH_LOG_H
#define SHEATH_LOG_H

#include <stdint.h>
#include <syslog.h>

/** log_level_parse(name): LOG_ERR..LOG_DEBUG for "error".."debug", or -1. */
int log_level_parse(const char *name);
/** log_level_name(level): the config spelling of a level. */
const char *log_level_name(int level);

/** log_open(target, level): target is "stderr", "syslog" or a file path.
 * Returns 0, or -1 with errno set when the file cannot be opened (the
 * previous target stays in force). */
int log_open(const char *target, int level);
/** log_target(): "stderr", "syslog" or the file path in use. */
const char *log_target(void);

/** log_set_level(level): change the threshold. */
void log_set_level(int level);
/** log_reopen(): reopen a log file (SIGUSR1, after logrotate moved it). */
void log_reopen(void);
/** log_close(): release the target. */
void log_close(void);

/** log_msg(level, fmt, ...): one line; write errors are ignored so a full
 * disk never takes a connection down. */
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** log_ratelimited(last_ms, level, fmt, ...): as log_msg, but at most once a
 * second per *last_ms slot. */
void log_ratelimited(int64_t *last_ms, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
