/* palette.h: puts a theme on the screen. palette_apply turns each theme slot into an ncurses
 * colour pair and attributes for what the terminal can show (256, 16 or 8 colours, or none when
 * NO_COLOR is set or the terminal has no colours); views then draw with
 * wattrset(w, palette_attr(SLOT_...)), never with raw colours. */
#ifndef LABDECK_PALETTE_H
#define LABDECK_PALETTE_H

#include <curses.h>

#include "theme.h"

/* palette_apply sets up colours for t; call it after initscr()/newterm() (it calls start_color
 * itself), and again to switch themes (then redraw everything). t is not kept. */
void palette_apply(const struct theme *t);

/* palette_attr gives what to pass to wattrset for a slot: its colour pair and attributes.
 * Before palette_apply, A_NORMAL. */
attr_t palette_attr(enum theme_slot slot);

/* palette_mode_name says which colour mode palette_apply chose, for help and messages:
 * "256 colours", "16 colours", "8 colours", "no colour (NO_COLOR)" or "no colour (terminal)". */
const char *palette_mode_name(void);

#endif
