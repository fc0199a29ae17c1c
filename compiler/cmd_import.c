/* lmcc import config.json [-o FILE]
 *
 * Writes our config YAML from a Hugging Face config.json. The architecture
 * is chosen by model_type; each architecture script says how its keys map. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <lua.h>

#include "commands.h"
#include "frontend.h"
#include "fsutil.h"

static const char IMPORT_USAGE[] =
    "usage: lmcc import CONFIG.json [-o FILE]\n"
    "Writes an lmcc config YAML from a Hugging Face config.json (model_type qwen3 or qwen).\n"
    "  -o, --out FILE   write the YAML here (default: stdout)\n"
    "  -h, --help       this text\n";

int cmd_import(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "out", required_argument, 0, 'o' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    const char *out = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': fputs(IMPORT_USAGE, stdout); return 0;
        default: return usage_error("import", NULL, IMPORT_USAGE);
        }
    }
    if (optind != argc - 1)
        return usage_error("import", "expected one config.json", IMPORT_USAGE);
    lm_err e;
    frontend f;
    if (frontend_open(&f, &e) != 0)
        return report_error(&e);
    frontend_opts fo = { 0 };
    int rc = 1;
    if (frontend_call_json(&f, "import_config", argv[optind], &fo, &e) != 0)
        goto done;
    size_t len;
    const char *yaml = lua_tolstring(f.L, -1, &len);
    if (out) {
        if (lm_write_atomic(out, yaml, len, &e) != 0)
            goto done;
    } else {
        fwrite(yaml, 1, len, stdout);
    }
    rc = 0;
done:
    if (rc != 0)
        report_error(&e);
    frontend_close(&f);
    return rc;
}
