/* b64.h - standard base64 (RFC 4648, with padding), as TF Serving uses for
 * {"b64": "..."} binary values in JSON. */
#ifndef ROMA_B64_H
#define ROMA_B64_H

#include <stddef.h>

#include "buf.h"

/* Appends the base64 encoding of data to out. */
void roma_b64_encode(roma_buf *out, const void *data, size_t len);

/* Decodes text into out.  Accepts missing padding and URL-safe letters.
 * Returns 0, or -1 when text is not base64 (out then holds garbage). */
int roma_b64_decode(roma_buf *out, const char *text, size_t len);

#endif
