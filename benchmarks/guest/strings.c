/* String processing: generate text, split it into words (strtok_r), count them in a chained
 * hash table (strcmp), search for substrings (strstr), format and parse numbers (snprintf,
 * strtoul), copy and reverse words (memcpy, strlen).  usage: strings [kilobytes-of-text] [reps] */
#include <string.h>
#include "../bench.h"

#define NBUCKETS 4096

struct entry { struct entry *next; char word[16]; uint64_t count; };

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static const char *syllables[] = {"ka", "lo", "mi", "nu", "ser", "ta", "vo", "xi", "zen", "qu",
                                  "ra", "po", "ed", "ing", "th", "ou"};

int main(int argc, char **argv)
{
    size_t n = (size_t)arg_long(argc, argv, 1, 2048) * 1024;
    long reps = arg_long(argc, argv, 2, 4);
    char *text = malloc(n + 64), *work = malloc(n + 64);
    uint64_t s = 5, sum = 0;
    size_t len = 0;
    while (len < n) { /* words of 1-4 syllables, numbers now and then */
        uint64_t v = xs64(&s);
        if (v % 11 == 0) {
            len += (size_t)snprintf(text + len, 32, "%lu ", (unsigned long)(v >> 40));
            continue;
        }
        int k = 1 + (int)(v >> 60) % 4;
        for (int i = 0; i < k; i++) {
            const char *syl = syllables[(v >> (8 * i)) & 15];
            size_t l = strlen(syl);
            memcpy(text + len, syl, l);
            len += l;
        }
        text[len++] = (v >> 50) % 9 ? ' ' : '\n';
    }
    text[len] = 0;
    struct entry **table = calloc(NBUCKETS, sizeof *table);
    struct entry *pool = malloc(sizeof *pool * 65536);
    size_t used = 0;
    for (long r = 0; r < reps; r++) {
        memset(table, 0, NBUCKETS * sizeof *table);
        used = 0;
        memcpy(work, text, len + 1);
        char *save, *w;
        uint64_t numbers = 0, words = 0;
        for (w = strtok_r(work, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
            words++;
            if (w[0] >= '0' && w[0] <= '9') {
                numbers += strtoul(w, NULL, 10);
                continue;
            }
            size_t l = strlen(w);
            if (l >= sizeof pool->word)
                l = sizeof pool->word - 1;
            char key[16];
            for (size_t i = 0; i < l; i++) /* reversed, so shared prefixes become suffixes */
                key[i] = w[l - 1 - i];
            key[l] = 0;
            uint32_t b = hash_str(key) & (NBUCKETS - 1);
            struct entry *e = table[b];
            while (e && strcmp(e->word, key))
                e = e->next;
            if (!e && used < 65536) {
                e = &pool[used++];
                memcpy(e->word, key, l + 1);
                e->count = 0;
                e->next = table[b];
                table[b] = e;
            }
            if (e)
                e->count++;
        }
        uint64_t found = 0;
        const char *needles[] = {"zenxi", "quthou", "kaloming", "ser\nta", "999"};
        for (int i = 0; i < 5; i++)
            for (const char *p = text; (p = strstr(p, needles[i])); p++)
                found += (uint64_t)(p - text) & 0xff;
        for (size_t i = 0; i < used; i++)
            sum = sum * 31 + hash_str(pool[i].word) * pool[i].count;
        sum += numbers * 3 + words * 5 + found * 7 + (uint64_t)r;
    }
    printf("strings bytes=%zu distinct=%zu checksum=%016llx\n", len, used,
           (unsigned long long)sum);
    return 0;
}
