/* Gemma 3's chat format, following the chat_template of its
 * tokenizer_config.json statement by statement for text messages:
 *   "<bos>", then per message "<start_of_turn>" + role + "\n" + trim(content)
 *   + "<end_of_turn>\n", the assistant's role written "model"; with
 *   add_generation_prompt "<start_of_turn>model\n".
 * Gemma has no system turn: a leading system message's content (untrimmed)
 * and "\n\n" go before the first turn's content. The template raises an
 * error unless the turns alternate user, then any other role, from the
 * first one on (roles other than user and assistant keep their names);
 * lmcc fails there too, naming the message. */
#include "chat_internal.h"

int chat_render_gemma(const lm_chat_msg *msgs, size_t n, lm_chat_opts o, lm_bytes *out, lm_err *e)
{
    int has_system = n > 0 && chat_is_role(&msgs[0], "system");
    if (chat_put(out, "<bos>", e))
        return -1;
    for (size_t i = has_system; i < n; i++) {
        const lm_chat_msg *m = &msgs[i];
        size_t turn = i - (size_t)has_system; /* the template's loop.index0 */
        if (chat_is_role(m, "user") != (turn % 2 == 0))
            return lm_fail(e, "chat: message %zu has role '%s'; the gemma3 format needs the roles to "
                              "alternate user/assistant/user/assistant/... (after an optional system "
                              "message)", i, m->role);
        const char *role = chat_is_role(m, "assistant") ? "model" : m->role;
        if (chat_put(out, "<start_of_turn>", e) || chat_put(out, role, e) || chat_put(out, "\n", e))
            return -1;
        if (turn == 0 && has_system &&
            (chat_put(out, msgs[0].content, e) || chat_put(out, "\n\n", e)))
            return -1;
        if (chat_put_view(out, chat_strip(chat_view_of(m->content)), e) ||
            chat_put(out, "<end_of_turn>\n", e))
            return -1;
    }
    return o.add_generation_prompt ? chat_put(out, "<start_of_turn>model\n", e) : 0;
}
