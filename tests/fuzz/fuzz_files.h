/* Fuzz inputs as files, for the parsers that read only from a path.
 *
 * Each target process gets one private directory under /tmp (removed at
 * exit); fuzz_put writes an input there under a fixed name, replacing the
 * previous one, so a parser sees exactly the bytes libFuzzer chose. */
#ifndef LMCC_FUZZ_FILES_H
#define LMCC_FUZZ_FILES_H

#include <stddef.h>

/* The process's scratch directory ("/tmp/lmcc-fuzz-XXXXXX"); aborts when it
 * cannot be made (the target cannot run at all then). */
const char *fuzz_dir(void);

/* Writes data[0..n) to fuzz_dir()/name and returns that path (static
 * storage, valid until the next call); aborts on a write error. */
const char *fuzz_put(const char *name, const void *data, size_t n);

/* Removes fuzz_dir()/name if it exists. */
void fuzz_remove(const char *name);

/* FUZZ_DATA_DIR/name: the fixed files the targets share (a small
 * tokenizer.json and qwen.tiktoken). */
const char *fuzz_data(const char *name);

/* One of those tokenizers, loaded; aborts when it does not load (the
 * target cannot run at all then). */
struct lm_tokenizer;
struct lm_tokenizer *fuzz_tokenizer(const char *name);

#endif
