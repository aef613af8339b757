/* argv and envp: the guest must see exactly the arguments and environment it was given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static void show_env(const char *name)
{
    const char *v = getenv(name);
    if (v)
        printf("env %s=[%s]\n", name, v);
    else
        printf("env %s unset\n", name);
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv, char **envp)
{
    /* argv[0] is a path under the build directory: print only its last component. */
    const char *slash = strrchr(argv[0], '/');
    printf("argc=%d\n", argc);
    printf("argv[0] basename=[%s]\n", slash ? slash + 1 : argv[0]);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=[%s] len=%zu\n", i, argv[i], strlen(argv[i]));
    printf("argv[argc] is %s\n", argv[argc] == NULL ? "NULL" : "not NULL");

    int n = 0;
    for (char **e = envp; *e; e++)
        n++;
    printf("envc=%d environ==envp: %s\n", n, environ == envp ? "yes" : "no");
    /* The harness's variables, sorted: the order of the environment is not compared. */
    char *mine[64];
    int m = 0;
    for (char **e = envp; *e && m < 64; e++)
        if (strncmp(*e, "EMU_TEST_", 9) == 0)
            mine[m++] = *e;
    qsort(mine, (size_t)m, sizeof mine[0], by_string);
    for (int i = 0; i < m; i++)
        printf("envp: [%s]\n", mine[i]);
    show_env("EMU_TEST_A");
    show_env("EMU_TEST_B");
    show_env("EMU_TEST_EMPTY");
    show_env("EMU_TEST_MISSING");
    show_env("LANG");
    show_env("PATH");

    /* A line on stderr, so that stream is compared too. */
    fprintf(stderr, "args: %d arguments\n", argc - 1);
    return 0;
}
