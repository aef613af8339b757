// Two builds of this program (-DVALUE=1 and -DVALUE=2, `.fixedcode` linked at the same
// address) exec one another: after an execve in place, the code at that address must be the
// new program's, not the old one's translation (`emu_options.rs`).
#include <stdio.h>
#include <unistd.h>

#ifndef VALUE
#define VALUE 1
#endif

__attribute__((noinline, section(".fixedcode"))) int value(void) { return VALUE; }

int main(int argc, char **argv) {
  printf("value %d\n", value());
  fflush(stdout);
  if (argc > 1) {
    execv(argv[1], argv + 1);
    perror("execv");
    return 1;
  }
  return 0;
}
