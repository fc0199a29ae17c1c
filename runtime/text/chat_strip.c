/* Python's str.strip() on UTF-8 views, for the renderers (Jinja's trim):
 * in a file of its own so that chat_template.c, which dispatches to the
 * renderers, and the renderers do not call each other. */
#include <stdint.h>

#include "chat_internal.h"

static int is_py_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* The code point of the UTF-8 sequence at s[0..n) and its length, or 0
 * when it is not a complete sequence (then nothing is stripped there). */
static size_t utf8_at(const unsigned char *s, size_t n, uint32_t *c)
{
    size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
                                 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || len > n)
        return 0;
    uint32_t v = len == 1 ? s[0] : s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    *c = v;
    return len;
}

chat_view chat_strip(chat_view v)
{
    const unsigned char *s = (const unsigned char *)v.p;
    uint32_t c;
    size_t k;
    while (v.n && (k = utf8_at(s, v.n, &c)) && is_py_space(c))
        s += k, v.n -= k;
    while (v.n) {
        size_t start = v.n - 1;
        while (start > 0 && v.n - start < 4 && (s[start] & 0xC0) == 0x80)
            start--;
        if (!(k = utf8_at(s + start, v.n - start, &c)) || start + k != v.n || !is_py_space(c))
            break;
        v.n = start;
    }
    v.p = (const char *)s;
    return v;
}
