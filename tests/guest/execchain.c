// execve from every angle, compared with a native run: what the new program inherits (pid,
// descriptors without close-on-exec, ignored signals, the signal mask, the environment it
// was given) and what it does not (close-on-exec descriptors, handlers, the old memory, the
// old code at the same address); failing execs that return an errno; `#!` scripts; exec
// from a forked and a vforked child; and a chain of execs.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

// Where both programs put code of their own, read-only, from a file.
#define CODE_AT ((void *)0x300000000ul)
// Where the first program maps data that must be gone after exec.
#define DATA_AT ((void *)0x310000000ul)

static char self[4096];

static void handler(int sig) { (void)sig; }

// Maps a file holding `mov eax, value; ret` read-only and executable at CODE_AT, runs it.
static int code_from_file(const char *name, int value) {
  unsigned char code[6] = {0xb8, 0, 0, 0, 0, 0xc3};
  memcpy(code + 1, &value, 4);
  int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, code, sizeof code) != sizeof code) {
    perror("code file");
    exit(1);
  }
  void *p = mmap(CODE_AT, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, 0);
  close(fd);
  if (p != CODE_AT) {
    perror("mmap code");
    exit(1);
  }
  return ((int (*)(void))p)();
}

static void run(char *const argv[]) {
  execve(self, argv, environ);
  printf("execve %s: %s\n", argv[1], strerror(errno));
  exit(1);
}

static void report(const char *stage, int argc, char **argv) {
  char name[17] = {0};
  prctl(PR_GET_NAME, name);
  printf("[%s] argc=%d", stage, argc);
  for (int i = 1; i < argc; i++) printf(" '%s'", argv[i]);
  printf(" name '%s'\n", name);
}

// The checks of the program that exec replaced the first one with.
static void check_inherited(void) {
  // Numbers that differ between runs (descriptors, the pid) are passed in a file.
  int cloexec_fd = -1, kept_fd = -1, first_pid = -1;
  FILE *f = fopen("inherit.txt", "r");
  if (!f || fscanf(f, "%d %d %d", &cloexec_fd, &kept_fd, &first_pid) != 3) exit(1);
  fclose(f);
  unlink("inherit.txt");
  printf("same pid: %s\n", getpid() == first_pid ? "yes" : "no");
  printf("close-on-exec fd open: %s\n", fcntl(cloexec_fd, F_GETFD) >= 0 ? "yes" : "no");
  printf("plain fd open: %s\n", fcntl(kept_fd, F_GETFD) >= 0 ? "yes" : "no");
  struct sigaction sa;
  sigaction(SIGUSR1, NULL, &sa);
  printf("SIGUSR1 handled: %s\n", sa.sa_handler == SIG_DFL ? "default" : "still");
  sigaction(SIGUSR2, NULL, &sa);
  printf("SIGUSR2 ignored: %s\n", sa.sa_handler == SIG_IGN ? "yes" : "no");
  sigset_t set;
  sigprocmask(SIG_BLOCK, NULL, &set);
  printf("SIGTERM blocked: %s\n", sigismember(&set, SIGTERM) ? "yes" : "no");
  printf("EXECCHAIN_VAR=%s\n", getenv("EXECCHAIN_VAR") ? getenv("EXECCHAIN_VAR") : "(unset)");
  printf("old data mapped: %s\n", msync(DATA_AT, 4096, MS_ASYNC) == 0 ? "yes" : "no");
  // The first program ran other code from this address; this is the new program's.
  printf("code at the old code's address returns %d\n", code_from_file("code-b", 2));
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = 0;
  printf("/proc/self/exe: %s\n", strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf);
  int fd = open("/proc/self/cmdline", O_RDONLY);
  n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
  printf("cmdline:");
  for (ssize_t i = 0; i < n; i++) putchar(buf[i] ? buf[i] : ' ');
  printf("\n");
}

int main(int argc, char **argv) {
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 1;
  self[n] = 0;
  setvbuf(stdout, NULL, _IONBF, 0);
  const char *stage = argc > 1 ? argv[1] : "first";
  report(stage, argc, argv);

  if (strcmp(stage, "inherit") == 0) {
    check_inherited();
    char count[] = "4";
    char *next[] = {argv[0], "chain", count, NULL};
    run(next);
  }
  if (strcmp(stage, "chain") == 0) {
    int left = atoi(argv[2]);
    if (left == 0) return 7;
    char count[16];
    snprintf(count, sizeof count, "%d", left - 1);
    char *next[] = {argv[0], "chain", count, NULL};
    run(next);
  }
  if (strcmp(stage, "child") == 0 || strcmp(stage, "script") == 0) return 3;

  // The first program.
  printf("code returns %d\n", code_from_file("code-a", 1));
  if (mmap(DATA_AT, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
           0) != DATA_AT)
    return 1;

  // Failing execs return to us.
  char *none[] = {"x", NULL};
  printf("missing: %d\n", execve("./no-such-program", none, environ) == -1 ? errno : 0);
  FILE *f = fopen("not-a-program", "w");
  fputs("just text\n", f);
  fclose(f);
  chmod("not-a-program", 0755);
  printf("text file: %s\n", execve("./not-a-program", none, environ) == -1 ? strerror(errno) : "ran");
  chmod("not-a-program", 0644);
  printf("not executable: %s\n",
         execve("./not-a-program", none, environ) == -1 ? strerror(errno) : "ran");

  // A `#!` script naming this program, from a forked child.
  f = fopen("script.sh", "w");
  fprintf(f, "#!%s script\n", self);
  fclose(f);
  chmod("script.sh", 0755);
  pid_t pid = fork();
  if (pid == 0) {
    char *args[] = {"./script.sh", "arg", NULL};
    execve("./script.sh", args, environ);
    _exit(99);
  }
  int status;
  waitpid(pid, &status, 0);
  printf("script child: exit %d\n", WEXITSTATUS(status));

  // From a vforked child.
  pid = vfork();
  if (pid == 0) {
    char *args[] = {argv[0], "child", "vforked", NULL};
    execve(self, args, environ);
    _exit(99);
  }
  waitpid(pid, &status, 0);
  printf("vforked child: exit %d\n", WEXITSTATUS(status));

  // What the next program inherits.
  int cloexec_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int kept_fd = open("/dev/null", O_RDONLY);
  struct sigaction sa = {0};
  sa.sa_handler = handler;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGUSR2, &sa, NULL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  f = fopen("inherit.txt", "w");
  fprintf(f, "%d %d %d\n", cloexec_fd, kept_fd, (int)getpid());
  fclose(f);
  char *env[] = {"EXECCHAIN_VAR=passed", NULL};
  char *args[] = {argv[0], "inherit", NULL};
  execve("/proc/self/exe", args, env);
  printf("execve: %s\n", strerror(errno));
  return 1;
}
