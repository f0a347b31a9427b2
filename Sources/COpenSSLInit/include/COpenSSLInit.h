#ifndef COPENSSLINIT_H
#define COPENSSLINIT_H
/* Nothing to call: linking this target runs its constructor (see no_atexit.c). */
#endif
