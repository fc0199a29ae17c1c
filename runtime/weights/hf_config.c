/* Checking a checkpoint's config.json against the compiled constants.
 *
 * A compiled model fixes every dimension, so a checkpoint of another size
 * would bind wrong or fail with shape errors far from the cause; comparing
 * config.json first names the real difference. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"

/* Shortest %g form that reads back as the same double: 1e+06, not 1000000.000000. */
static void format_number(char *buf, size_t size, double v)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void format_expected(char *buf, size_t size, const lm_config_check *c)
{
    if (c->kind == LM_CFG_BOOL)
        snprintf(buf, size, "%s", c->value != 0 ? "true" : "false");
    else if (c->kind == LM_CFG_STRING)
        snprintf(buf, size, c->text ? "\"%.56s\"" : "without it", c->text);
    else if (c->kind == LM_CFG_INTS || c->kind == LM_CFG_STRINGS)
        snprintf(buf, size, "[%.56s]", c->text);
    else
        format_number(buf, size, c->value);
}

static void format_found(char *buf, size_t size, const json_t *v)
{
    if (json_is_integer(v))
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        format_number(buf, size, json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_string(v))
        snprintf(buf, size, "the string \"%.60s\"", json_string_value(v));
    else if (json_is_null(v))
        snprintf(buf, size, "null");
    else if (json_is_array(v)) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(buf, size, "%.80s", text ? text : "an array");
        free(text);
    } else
        snprintf(buf, size, "an object");
}

/* Is item the string of the n bytes at s? */
static int string_item_is(const json_t *item, const char *s, size_t n)
{
    return json_is_string(item) && strlen(json_string_value(item)) == n && memcmp(json_string_value(item), s, n) == 0;
}

/* Does v, an array of integers (or null for an empty list), hold the
 * integers of text ("0,3"), in order? With strings, an array of the
 * strings of text ("a,b"). */
static int list_match(const char *text, const json_t *v, int strings)
{
    if (json_is_null(v))
        return text[0] == '\0';
    if (!json_is_array(v))
        return 0;
    size_t i = 0;
    const char *s = text;
    while (*s) {
        const json_t *item = json_array_get(v, i++);
        const char *end;
        if (strings) {
            end = strchr(s, ',');
            if (!end)
                end = s + strlen(s);
            const size_t n = (size_t)(end - s);
            if (!string_item_is(item, s, n))
                return 0;
        } else {
            char *stop;
            long want = strtol(s, &stop, 10);
            if (!json_is_integer(item) || json_integer_value(item) != want || stop == s)
                return 0;
            end = stop;
        }
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return 0;
    }
    return i == json_array_size(v);
}

/* For a compared list of strings and an array v that differs from it:
 * "key[i] is x, compiled y" at the first item where they part, or their
 * lengths, into buf, and 1; else 0. (Gemma 3's layer_types is longer than
 * a message shows whole; lists of ints are short and shown whole.) */
static int list_difference(char *buf, size_t size, const lm_config_check *c, const json_t *v)
{
    if (c->kind != LM_CFG_STRINGS || !json_is_array(v) || !c->text)
        return 0;
    const size_t found = json_array_size(v);
    const char *s = c->text;
    size_t i = 0;
    for (; *s && i < found; i++) {
        const char *end = strchr(s, ',');
        const size_t n = end ? (size_t)(end - s) : strlen(s);
        const json_t *item = json_array_get(v, i);
        if (!string_item_is(item, s, n)) {
            char want[160], got[96];
            snprintf(want, sizeof want, "%.*s", (int)(n < 150 ? n : 150), s);
            format_found(got, sizeof got, item);
            snprintf(buf, size, "%s[%zu] is %s, compiled %s", c->json_key, i, got, want);
            return 1;
        }
        s = end ? end + 1 : s + n;
    }
    size_t compiled = i;
    if (*s) {
        compiled++;
        for (const char *q = s; *q; q++)
            compiled += *q == ',';
    }
    if (compiled == found)
        return 0;
    snprintf(buf, size, "%s has %zu items, compiled %zu", c->json_key, found, compiled);
    return 1;
}

static int matches(const lm_config_check *c, const json_t *v)
{
    switch (c->kind) {
    case LM_CFG_INT:
        if (json_is_integer(v))
            return (double)json_integer_value(v) == c->value;
        return json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               json_real_value(v) == c->value;
    case LM_CFG_FLOAT: {
        if (!json_is_number(v))
            return 0;
        double x = json_number_value(v);
        return x == c->value || fabs(x - c->value) <= 1e-9 * fmax(fabs(x), fabs(c->value));
    }
    case LM_CFG_BOOL:
        return json_is_boolean(v) && json_is_true(v) == (c->value != 0);
    case LM_CFG_STRING:
        return c->text ? json_is_string(v) && strcmp(json_string_value(v), c->text) == 0
                       : json_is_null(v);
    case LM_CFG_INTS:
    case LM_CFG_STRINGS:
        return list_match(c->text ? c->text : "", v, c->kind == LM_CFG_STRINGS);
    }
    return 0;
}

/* The value at a key of config.json; "rope_scaling.factor" descends into
 * nested objects, for settings config.json groups. NULL when absent. */
static const json_t *config_value(const json_t *root, const char *key)
{
    const char *dot;
    while ((dot = strchr(key, '.')) != NULL) {
        char part[128];
        size_t n = (size_t)(dot - key);
        if (n >= sizeof part)
            return NULL;
        memcpy(part, key, n);
        part[n] = '\0';
        root = json_object_get(root, part);
        if (!json_is_object(root))
            return NULL;
        key = dot + 1;
    }
    return json_object_get(root, key);
}

int lm_check_hf_config(const lm_model_desc *d, const char *dir, lm_err *e)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return lm_fail(e, "%s: path too long", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_cannot_open_file)
            return lm_fail(e, "%s: cannot open (%s); pass the Hugging Face checkpoint directory, "
                              "which holds config.json",
                           path, jerr.text);
        return lm_fail(e, "%s:%d:%d: not valid JSON: %s; re-download config.json", path,
                       jerr.line, jerr.column, jerr.text);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return lm_fail(e, "%s: not a JSON object; re-download config.json", path);
    }
    /* Another model_type is another model: its fields would all differ,
     * so this is said alone. */
    const json_t *mt = json_object_get(root, "model_type");
    if (d->hf_model_type && !(json_is_string(mt) && strcmp(json_string_value(mt), d->hf_model_type) == 0)) {
        char got[96] = "missing";
        if (mt)
            format_found(got, sizeof got, mt);
        json_decref(root);
        return lm_fail(e, "%s: model_type is %s, but %s was compiled for model_type \"%s\"; use a "
                          "checkpoint of that model, or build one for this checkpoint (lmcc import)",
                       path, got, d->name ? d->name : "?", d->hf_model_type);
    }
    char diffs[1700];
    size_t len = 0;
    int n_diff = 0, omitted = 0;
    for (int i = 0; i < d->n_config_checks; i++) {
        const lm_config_check *c = &d->config_checks[i];
        const json_t *v = config_value(root, c->json_key);
        if (!v && (c->has_default || (c->kind == LM_CFG_STRING && !c->text)))
            continue;
        if (v && matches(c, v))
            continue;
        char want[64], got[96], one[300];
        format_expected(want, sizeof want, c);
        if (v)
            format_found(got, sizeof got, v);
        else
            snprintf(got, sizeof got, "missing");
        if (!list_difference(one, sizeof one, c, v))
            snprintf(one, sizeof one, "%s is %s, compiled %s", c->json_key, got, want);
        n_diff++;
        size_t need = strlen(one) + 2;
        if (omitted || len + need >= sizeof diffs) {
            omitted++;
            continue;
        }
        len += (size_t)snprintf(diffs + len, sizeof diffs - len, "%s%s", len ? "; " : "", one);
    }
    json_decref(root);
    if (n_diff == 0)
        return 0;
    char more[48] = "";
    if (omitted)
        snprintf(more, sizeof more, "; and %d more", omitted);
    return lm_fail(e,
                   "%s: does not match the compiled model %s: %s%s; rebuild from this config "
                   "(lmcc import) or use the matching checkpoint",
                   path, d->name ? d->name : "?", diffs, more);
}
