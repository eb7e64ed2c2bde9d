#ifndef DREAMLAB_READLINE_SHIM_H
#define DREAMLAB_READLINE_SHIM_H
#include <stdio.h>
#include <stdlib.h>
#include <readline/readline.h>
#include <readline/history.h>

// Swift 6 rejects direct use of readline's mutable globals; these wrappers read and write them.
static inline void dl_rl_set_name(const char *name) { rl_readline_name = name; }
static inline void dl_rl_set_completer(rl_completion_func_t *f) { rl_attempted_completion_function = f; }
// Copied: readline keeps the pointer, and a Swift string passed as `const char *` lives only for the call.
static inline void dl_rl_set_word_break(const char *s) { rl_completer_word_break_characters = strdup(s); rl_basic_word_break_characters = rl_completer_word_break_characters; }
static inline void dl_rl_set_append_char(int c) { rl_completion_append_character = c; }
static inline void dl_rl_suppress_default(int on) { rl_attempted_completion_over = on; }
static inline const char *dl_rl_line_buffer(void) { return rl_line_buffer; }
static inline int dl_history_length(void) { return history_length; }
static inline void dl_rl_catch_signals(int on) { rl_catch_signals = on; }
// Multi-line entries stay one entry across restarts: timestamps mark where each entry starts in the file.
// (readline marks timestamps with history_comment_char, which is 0 unless set: then none is written.)
static inline void dl_history_keep_multiline(void) { history_comment_char = '#'; history_write_timestamps = 1; history_multiline_entries = 1; }
static inline void dl_rl_set_prompt(const char *p) { rl_set_prompt(p); }
static inline void dl_rl_clear_line(void) {
    rl_replace_line("", 0); rl_crlf(); rl_on_new_line(); rl_redisplay();
}
#endif
