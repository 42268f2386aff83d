/*
 * Test-only control of the fault-injection point in prim.c. Tests link the
 * static library and call these directly; they are not part of the public
 * API. `sys` is an ms__sys value; the `nth` call of that kind from now on
 * fails with -err, once.
 */
#ifndef MEMSNAP_LINUX_FAULT_H
#define MEMSNAP_LINUX_FAULT_H

void ms__fault_arm(int sys, long nth, int err);
void ms__fault_disarm(void);
long ms__fault_calls(int sys);
void ms__fault_reset_counts(void);

#endif /* MEMSNAP_LINUX_FAULT_H */
