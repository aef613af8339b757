/* A bytecode interpreter loop: a small stack machine with a switch dispatch, running a
 * program that counts primes by trial division and folds them into a hash.
 * usage: interp [limit-in-thousands] */
#include "../bench.h"

enum { PUSH, LOAD, STORE, ADD, SUB, MUL, MOD, LT, JZ, JMP, DUP, DROP, HASH, HALT };

/* Registers: r0 n (candidate), r1 d (divisor), r2 limit, r3 count, r4 hash, r5 is_prime.
 * The numbers in comments are the instruction offsets the jumps name. */
static const int64_t program[] = {
    /*  0 */ PUSH, 2, STORE, 0,
    /*  4 outer: if !(n < limit) goto end */
    LOAD, 0, LOAD, 2, LT, JZ, 75,
    /* 11 */ PUSH, 1, STORE, 5, PUSH, 2, STORE, 1,
    /* 19 inner: if !(d * d < n + 1) goto done */
    LOAD, 1, LOAD, 1, MUL, LOAD, 0, PUSH, 1, ADD, LT, JZ, 52,
    /* 32: if n % d == 0 goto composite */
    LOAD, 0, LOAD, 1, MOD, JZ, 48,
    /* 39: d += 1; goto inner */
    LOAD, 1, PUSH, 1, ADD, STORE, 1, JMP, 19,
    /* 48 composite: is_prime = 0 */
    PUSH, 0, STORE, 5,
    /* 52 done: if !is_prime goto next */
    LOAD, 5, JZ, 66,
    /* 56: count += 1; hash = hash * 31 ^ n */
    LOAD, 3, PUSH, 1, ADD, STORE, 3, LOAD, 0, HASH,
    /* 66 next: n += 1; goto outer */
    LOAD, 0, PUSH, 1, ADD, STORE, 0, JMP, 4,
    /* 75 end */ HALT,
};

static int64_t run(const int64_t *code, int64_t *reg)
{
    int64_t stack[64];
    int sp = 0;
    long pc = 0;
    uint64_t steps = 0;
    for (;;) {
        steps++;
        switch (code[pc]) {
        case PUSH: stack[sp++] = code[pc + 1]; pc += 2; break;
        case LOAD: stack[sp++] = reg[code[pc + 1]]; pc += 2; break;
        case STORE: reg[code[pc + 1]] = stack[--sp]; pc += 2; break;
        case ADD: sp--; stack[sp - 1] += stack[sp]; pc++; break;
        case SUB: sp--; stack[sp - 1] -= stack[sp]; pc++; break;
        case MUL: sp--; stack[sp - 1] *= stack[sp]; pc++; break;
        case MOD: sp--; stack[sp - 1] %= stack[sp]; pc++; break;
        case LT: sp--; stack[sp - 1] = stack[sp - 1] < stack[sp]; pc++; break;
        case JZ: pc = stack[--sp] ? pc + 2 : code[pc + 1]; break;
        case JMP: pc = code[pc + 1]; break;
        case DUP: stack[sp] = stack[sp - 1]; sp++; pc++; break;
        case DROP: sp--; pc++; break;
        case HASH: reg[4] = (int64_t)(((uint64_t)reg[4] * 31) ^ (uint64_t)stack[--sp]); pc++; break;
        case HALT: return (int64_t)steps;
        default: return -1;
        }
    }
}

int main(int argc, char **argv)
{
    int64_t reg[8] = {0};
    reg[2] = arg_long(argc, argv, 1, 300) * 1000;
    int64_t steps = run(program, reg);
    printf("interp limit=%lld primes=%lld hash=%016llx steps=%lld\n", (long long)reg[2],
           (long long)reg[3], (unsigned long long)reg[4], (long long)steps);
    return 0;
}
