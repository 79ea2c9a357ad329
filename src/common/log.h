/* log.h - one line per event on stderr: time, level, process tag, message.
 * Thread-safe (one fprintf per line).  Nothing is logged per request unless
 * the level is debug. */
#ifndef ROMA_LOG_H
#define ROMA_LOG_H

typedef enum { ROMA_LOG_DEBUG, ROMA_LOG_INFO, ROMA_LOG_WARN, ROMA_LOG_ERROR } roma_log_level;

void roma_log_init(const char *tag, roma_log_level min_level);
void roma_log(roma_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define roma_debug(...) roma_log(ROMA_LOG_DEBUG, __VA_ARGS__)
#define roma_info(...) roma_log(ROMA_LOG_INFO, __VA_ARGS__)
#define roma_warn(...) roma_log(ROMA_LOG_WARN, __VA_ARGS__)
#define roma_error(...) roma_log(ROMA_LOG_ERROR, __VA_ARGS__)

#endif
