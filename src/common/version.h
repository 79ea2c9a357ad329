/* version.h - ROMA's version, reported by `roma --version` and by the
 * worker's Open Inference Protocol server metadata (GET /v2). */
#ifndef ROMA_VERSION_H
#define ROMA_VERSION_H

#define ROMA_VERSION "0.1.0"

#endif
