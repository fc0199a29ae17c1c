/* What the two tokenizer-file targets share: load the input as a tokenizer
 * file, and when it loads, encode a fixed text (ASCII, digits, an added
 * token's text, CJK, an invalid byte) and decode the ids. */
#ifndef LMCC_FUZZ_TOKENIZER_FILE_H
#define LMCC_FUZZ_TOKENIZER_FILE_H

#include <stddef.h>
#include <stdint.h>

/* file_name decides the format, as lm_tokenizer_load does by name. */
void fuzz_tokenizer_file(const char *file_name, const uint8_t *data, size_t size);

#endif
