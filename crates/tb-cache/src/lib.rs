//! Translation blocks and the shared table that finds them.
//!
//! Owns `TranslationBlock` (its key, the atomic `cflags` with the `CF_INVALID` bit, the guest
//! pages it covers, its host code and jump slots), the lookup path (a per-vCPU jump cache,
//! then the shared `qht` table with a key predicate), the insertion race in which the loser
//! drops its translation, the page index used for invalidation, and RCU-style reclamation
//! of invalidated blocks. It does not translate and does not execute.
