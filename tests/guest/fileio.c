/* File I/O in a fresh temporary directory made with mkdtemp under argv[1] (default "."):
 * open/write/lseek/read/pread/pwrite, fstat/stat (only size and type are printed), stdio,
 * rename, unlink, opendir/readdir (sorted listing), rmdir. Removes everything it made. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            printf("FAILED line %d: %s (errno %d)\n", __LINE__, #cond, errno);                    \
            failures++;                                                                           \
        }                                                                                         \
    } while (0)

static const char *type_of(mode_t m)
{
    return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" : "other";
}

static void show_stat(const char *name)
{
    struct stat st;
    if (stat(name, &st) == 0)
        printf("stat %s: %s size=%lld\n", name, type_of(st.st_mode),
               S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size);
    else
        printf("stat %s: %s\n", name, errno == ENOENT ? "ENOENT" : "other error");
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list_dir(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return;
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_names);
    printf("listing (%d):", n);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : ".";
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/emu-fileio-XXXXXX", base);
    if (!mkdtemp(dir)) {
        printf("mkdtemp failed\n");
        return 1;
    }
    printf("made a temporary directory\n");
    CHECK(chdir(dir) == 0);
    show_stat(".");

    /* write, lseek, read */
    int fd = open("a.txt", O_CREAT | O_EXCL | O_RDWR, 0644);
    CHECK(fd >= 0);
    const char *text = "The quick brown fox jumps over the lazy dog.\n";
    size_t tl = strlen(text);
    for (int i = 0; i < 100; i++)
        CHECK(write(fd, text, tl) == (ssize_t)tl);
    CHECK(lseek(fd, 0, SEEK_CUR) == (off_t)(100 * tl));
    CHECK(lseek(fd, 4, SEEK_SET) == 4);
    char buf[256];
    ssize_t r = read(fd, buf, 15);
    buf[r > 0 ? r : 0] = 0;
    printf("read after lseek(4): %zd [%s]\n", r, buf);
    CHECK(lseek(fd, -10, SEEK_END) == (off_t)(100 * tl - 10));
    r = read(fd, buf, sizeof buf);
    printf("read at end-10: %zd bytes\n", r);
    CHECK(read(fd, buf, sizeof buf) == 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    printf("fstat: %s size=%lld\n", type_of(st.st_mode), (long long)st.st_size);

    /* pwrite/pread do not move the offset; a hole reads as zeros. */
    CHECK(pwrite(fd, "XYZ", 3, 10) == 3);
    CHECK(pread(fd, buf, 8, 8) == 8);
    printf("pread: [%.8s] offset still at %lld\n", buf, (long long)lseek(fd, 0, SEEK_CUR));
    CHECK(lseek(fd, 10000, SEEK_SET) == 10000);
    CHECK(write(fd, "end", 3) == 3);
    CHECK(pread(fd, buf, 4, 9000) == 4);
    printf("hole reads zeros: %d\n", buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 0);
    CHECK(ftruncate(fd, 100) == 0);
    CHECK(fstat(fd, &st) == 0);
    printf("after ftruncate: size=%lld\n", (long long)st.st_size);
    CHECK(close(fd) == 0);
    CHECK(read(fd, buf, 1) == -1 && errno == EBADF);

    /* O_APPEND */
    fd = open("a.txt", O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(write(fd, "tail\n", 5) == 5);
    close(fd);
    show_stat("a.txt");

    /* stdio */
    FILE *f = fopen("b.txt", "w");
    CHECK(f != NULL);
    for (int i = 0; i < 1000; i++)
        fprintf(f, "line %d %x\n", i, i * i);
    CHECK(fclose(f) == 0);
    f = fopen("b.txt", "r");
    CHECK(f != NULL);
    int lines = 0;
    long sum = 0;
    char line[64];
    while (fgets(line, sizeof line, f)) {
        lines++;
        sum += atoi(line + 5);
    }
    fseek(f, 0, SEEK_END);
    printf("stdio: %d lines, sum %ld, ftell %ld\n", lines, sum, ftell(f));
    fclose(f);

    /* A larger file written and read in odd-sized chunks. */
    fd = open("big.bin", O_CREAT | O_TRUNC | O_WRONLY, 0600);
    CHECK(fd >= 0);
    static unsigned char big[1 << 20];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 2654435761u >> 13);
    for (size_t done = 0; done < sizeof big;) {
        size_t n = sizeof big - done < 77777 ? sizeof big - done : 77777;
        ssize_t w = write(fd, big + done, n);
        CHECK(w > 0);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    close(fd);
    fd = open("big.bin", O_RDONLY);
    unsigned long long h = 0;
    size_t total = 0;
    static unsigned char rbuf[65537];
    for (;;) {
        ssize_t n = read(fd, rbuf, sizeof rbuf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            h = h * 1099511628211ULL ^ rbuf[i];
        total += (size_t)n;
    }
    close(fd);
    printf("big.bin: read %zu bytes, hash %016llx\n", total, h);

    /* Directories, rename, unlink. */
    CHECK(mkdir("sub", 0755) == 0);
    CHECK(mkdir("sub", 0755) == -1 && errno == EEXIST);
    fd = open("sub/c.txt", O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    close(fd);
    list_dir(".");
    CHECK(rename("a.txt", "renamed.txt") == 0);
    show_stat("a.txt");
    show_stat("renamed.txt");
    show_stat("sub");
    CHECK(rename("sub/c.txt", "c-moved.txt") == 0);
    list_dir(".");
    list_dir("sub");
    CHECK(open("missing.txt", O_RDONLY) == -1 && errno == ENOENT);
    CHECK(rmdir(".") == -1);
    CHECK(unlink("sub") == -1);

    const char *files[] = {"renamed.txt", "b.txt", "big.bin", "c-moved.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        CHECK(unlink(files[i]) == 0);
    CHECK(unlink("b.txt") == -1 && errno == ENOENT);
    CHECK(rmdir("sub") == 0);
    list_dir(".");
    CHECK(chdir("..") == 0);
    CHECK(rmdir(dir) == 0);
    struct stat gone;
    CHECK(stat(dir, &gone) == -1 && errno == ENOENT);
    printf("removed the temporary directory; failures=%d\n", failures);
    return failures != 0;
}
