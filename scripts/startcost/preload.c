/*
 * preload: a shared object for LD_PRELOAD whose constructor loads the
 * library STARTCOST_LIB with dlopen and calls its function STARTCOST_FN
 * (no arguments), so that a program that knows nothing of Go runs with a
 * Go runtime started: `rawloop -1` with the floor library is a plain C
 * client that pays the runtime's start and nothing else.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

__attribute__((constructor))
static void startcost_preload(void)
{
	const char *lib = getenv("STARTCOST_LIB"), *fn = getenv("STARTCOST_FN");
	void *h;
	uintptr_t (*f)(void);

	if (lib == NULL || fn == NULL)
		return;
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		fprintf(stderr, "preload: %s\n", dlerror());
		exit(1);
	}
	*(void **)&f = dlsym(h, fn);
	if (f == NULL) {
		fprintf(stderr, "preload: %s: no %s\n", lib, fn);
		exit(1);
	}
	f();
}
