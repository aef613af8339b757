//! x86-64 Linux system call numbers (the guest's), generated from the kernel's
//! `asm/unistd_64.h`.

/// x86-64 syscall number of `read`.
pub const READ: u64 = 0;
/// x86-64 syscall number of `write`.
pub const WRITE: u64 = 1;
/// x86-64 syscall number of `open`.
pub const OPEN: u64 = 2;
/// x86-64 syscall number of `close`.
pub const CLOSE: u64 = 3;
/// x86-64 syscall number of `stat`.
pub const STAT: u64 = 4;
/// x86-64 syscall number of `fstat`.
pub const FSTAT: u64 = 5;
/// x86-64 syscall number of `lstat`.
pub const LSTAT: u64 = 6;
/// x86-64 syscall number of `poll`.
pub const POLL: u64 = 7;
/// x86-64 syscall number of `lseek`.
pub const LSEEK: u64 = 8;
/// x86-64 syscall number of `mmap`.
pub const MMAP: u64 = 9;
/// x86-64 syscall number of `mprotect`.
pub const MPROTECT: u64 = 10;
/// x86-64 syscall number of `munmap`.
pub const MUNMAP: u64 = 11;
/// x86-64 syscall number of `brk`.
pub const BRK: u64 = 12;
/// x86-64 syscall number of `rt_sigaction`.
pub const RT_SIGACTION: u64 = 13;
/// x86-64 syscall number of `rt_sigprocmask`.
pub const RT_SIGPROCMASK: u64 = 14;
/// x86-64 syscall number of `rt_sigreturn`.
pub const RT_SIGRETURN: u64 = 15;
/// x86-64 syscall number of `ioctl`.
pub const IOCTL: u64 = 16;
/// x86-64 syscall number of `pread64`.
pub const PREAD64: u64 = 17;
/// x86-64 syscall number of `pwrite64`.
pub const PWRITE64: u64 = 18;
/// x86-64 syscall number of `readv`.
pub const READV: u64 = 19;
/// x86-64 syscall number of `writev`.
pub const WRITEV: u64 = 20;
/// x86-64 syscall number of `access`.
pub const ACCESS: u64 = 21;
/// x86-64 syscall number of `pipe`.
pub const PIPE: u64 = 22;
/// x86-64 syscall number of `select`.
pub const SELECT: u64 = 23;
/// x86-64 syscall number of `sched_yield`.
pub const SCHED_YIELD: u64 = 24;
/// x86-64 syscall number of `mremap`.
pub const MREMAP: u64 = 25;
/// x86-64 syscall number of `msync`.
pub const MSYNC: u64 = 26;
/// x86-64 syscall number of `mincore`.
pub const MINCORE: u64 = 27;
/// x86-64 syscall number of `madvise`.
pub const MADVISE: u64 = 28;
/// x86-64 syscall number of `shmget`.
pub const SHMGET: u64 = 29;
/// x86-64 syscall number of `shmat`.
pub const SHMAT: u64 = 30;
/// x86-64 syscall number of `shmctl`.
pub const SHMCTL: u64 = 31;
/// x86-64 syscall number of `dup`.
pub const DUP: u64 = 32;
/// x86-64 syscall number of `dup2`.
pub const DUP2: u64 = 33;
/// x86-64 syscall number of `pause`.
pub const PAUSE: u64 = 34;
/// x86-64 syscall number of `nanosleep`.
pub const NANOSLEEP: u64 = 35;
/// x86-64 syscall number of `getitimer`.
pub const GETITIMER: u64 = 36;
/// x86-64 syscall number of `alarm`.
pub const ALARM: u64 = 37;
/// x86-64 syscall number of `setitimer`.
pub const SETITIMER: u64 = 38;
/// x86-64 syscall number of `getpid`.
pub const GETPID: u64 = 39;
/// x86-64 syscall number of `sendfile`.
pub const SENDFILE: u64 = 40;
/// x86-64 syscall number of `socket`.
pub const SOCKET: u64 = 41;
/// x86-64 syscall number of `connect`.
pub const CONNECT: u64 = 42;
/// x86-64 syscall number of `accept`.
pub const ACCEPT: u64 = 43;
/// x86-64 syscall number of `sendto`.
pub const SENDTO: u64 = 44;
/// x86-64 syscall number of `recvfrom`.
pub const RECVFROM: u64 = 45;
/// x86-64 syscall number of `sendmsg`.
pub const SENDMSG: u64 = 46;
/// x86-64 syscall number of `recvmsg`.
pub const RECVMSG: u64 = 47;
/// x86-64 syscall number of `shutdown`.
pub const SHUTDOWN: u64 = 48;
/// x86-64 syscall number of `bind`.
pub const BIND: u64 = 49;
/// x86-64 syscall number of `listen`.
pub const LISTEN: u64 = 50;
/// x86-64 syscall number of `getsockname`.
pub const GETSOCKNAME: u64 = 51;
/// x86-64 syscall number of `getpeername`.
pub const GETPEERNAME: u64 = 52;
/// x86-64 syscall number of `socketpair`.
pub const SOCKETPAIR: u64 = 53;
/// x86-64 syscall number of `setsockopt`.
pub const SETSOCKOPT: u64 = 54;
/// x86-64 syscall number of `getsockopt`.
pub const GETSOCKOPT: u64 = 55;
/// x86-64 syscall number of `clone`.
pub const CLONE: u64 = 56;
/// x86-64 syscall number of `fork`.
pub const FORK: u64 = 57;
/// x86-64 syscall number of `vfork`.
pub const VFORK: u64 = 58;
/// x86-64 syscall number of `execve`.
pub const EXECVE: u64 = 59;
/// x86-64 syscall number of `exit`.
pub const EXIT: u64 = 60;
/// x86-64 syscall number of `wait4`.
pub const WAIT4: u64 = 61;
/// x86-64 syscall number of `kill`.
pub const KILL: u64 = 62;
/// x86-64 syscall number of `uname`.
pub const UNAME: u64 = 63;
/// x86-64 syscall number of `semget`.
pub const SEMGET: u64 = 64;
/// x86-64 syscall number of `semop`.
pub const SEMOP: u64 = 65;
/// x86-64 syscall number of `semctl`.
pub const SEMCTL: u64 = 66;
/// x86-64 syscall number of `shmdt`.
pub const SHMDT: u64 = 67;
/// x86-64 syscall number of `msgget`.
pub const MSGGET: u64 = 68;
/// x86-64 syscall number of `msgsnd`.
pub const MSGSND: u64 = 69;
/// x86-64 syscall number of `msgrcv`.
pub const MSGRCV: u64 = 70;
/// x86-64 syscall number of `msgctl`.
pub const MSGCTL: u64 = 71;
/// x86-64 syscall number of `fcntl`.
pub const FCNTL: u64 = 72;
/// x86-64 syscall number of `flock`.
pub const FLOCK: u64 = 73;
/// x86-64 syscall number of `fsync`.
pub const FSYNC: u64 = 74;
/// x86-64 syscall number of `fdatasync`.
pub const FDATASYNC: u64 = 75;
/// x86-64 syscall number of `truncate`.
pub const TRUNCATE: u64 = 76;
/// x86-64 syscall number of `ftruncate`.
pub const FTRUNCATE: u64 = 77;
/// x86-64 syscall number of `getdents`.
pub const GETDENTS: u64 = 78;
/// x86-64 syscall number of `getcwd`.
pub const GETCWD: u64 = 79;
/// x86-64 syscall number of `chdir`.
pub const CHDIR: u64 = 80;
/// x86-64 syscall number of `fchdir`.
pub const FCHDIR: u64 = 81;
/// x86-64 syscall number of `rename`.
pub const RENAME: u64 = 82;
/// x86-64 syscall number of `mkdir`.
pub const MKDIR: u64 = 83;
/// x86-64 syscall number of `rmdir`.
pub const RMDIR: u64 = 84;
/// x86-64 syscall number of `creat`.
pub const CREAT: u64 = 85;
/// x86-64 syscall number of `link`.
pub const LINK: u64 = 86;
/// x86-64 syscall number of `unlink`.
pub const UNLINK: u64 = 87;
/// x86-64 syscall number of `symlink`.
pub const SYMLINK: u64 = 88;
/// x86-64 syscall number of `readlink`.
pub const READLINK: u64 = 89;
/// x86-64 syscall number of `chmod`.
pub const CHMOD: u64 = 90;
/// x86-64 syscall number of `fchmod`.
pub const FCHMOD: u64 = 91;
/// x86-64 syscall number of `chown`.
pub const CHOWN: u64 = 92;
/// x86-64 syscall number of `fchown`.
pub const FCHOWN: u64 = 93;
/// x86-64 syscall number of `lchown`.
pub const LCHOWN: u64 = 94;
/// x86-64 syscall number of `umask`.
pub const UMASK: u64 = 95;
/// x86-64 syscall number of `gettimeofday`.
pub const GETTIMEOFDAY: u64 = 96;
/// x86-64 syscall number of `getrlimit`.
pub const GETRLIMIT: u64 = 97;
/// x86-64 syscall number of `getrusage`.
pub const GETRUSAGE: u64 = 98;
/// x86-64 syscall number of `sysinfo`.
pub const SYSINFO: u64 = 99;
/// x86-64 syscall number of `times`.
pub const TIMES: u64 = 100;
/// x86-64 syscall number of `ptrace`.
pub const PTRACE: u64 = 101;
/// x86-64 syscall number of `getuid`.
pub const GETUID: u64 = 102;
/// x86-64 syscall number of `syslog`.
pub const SYSLOG: u64 = 103;
/// x86-64 syscall number of `getgid`.
pub const GETGID: u64 = 104;
/// x86-64 syscall number of `setuid`.
pub const SETUID: u64 = 105;
/// x86-64 syscall number of `setgid`.
pub const SETGID: u64 = 106;
/// x86-64 syscall number of `geteuid`.
pub const GETEUID: u64 = 107;
/// x86-64 syscall number of `getegid`.
pub const GETEGID: u64 = 108;
/// x86-64 syscall number of `setpgid`.
pub const SETPGID: u64 = 109;
/// x86-64 syscall number of `getppid`.
pub const GETPPID: u64 = 110;
/// x86-64 syscall number of `getpgrp`.
pub const GETPGRP: u64 = 111;
/// x86-64 syscall number of `setsid`.
pub const SETSID: u64 = 112;
/// x86-64 syscall number of `setreuid`.
pub const SETREUID: u64 = 113;
/// x86-64 syscall number of `setregid`.
pub const SETREGID: u64 = 114;
/// x86-64 syscall number of `getgroups`.
pub const GETGROUPS: u64 = 115;
/// x86-64 syscall number of `setgroups`.
pub const SETGROUPS: u64 = 116;
/// x86-64 syscall number of `setresuid`.
pub const SETRESUID: u64 = 117;
/// x86-64 syscall number of `getresuid`.
pub const GETRESUID: u64 = 118;
/// x86-64 syscall number of `setresgid`.
pub const SETRESGID: u64 = 119;
/// x86-64 syscall number of `getresgid`.
pub const GETRESGID: u64 = 120;
/// x86-64 syscall number of `getpgid`.
pub const GETPGID: u64 = 121;
/// x86-64 syscall number of `setfsuid`.
pub const SETFSUID: u64 = 122;
/// x86-64 syscall number of `setfsgid`.
pub const SETFSGID: u64 = 123;
/// x86-64 syscall number of `getsid`.
pub const GETSID: u64 = 124;
/// x86-64 syscall number of `capget`.
pub const CAPGET: u64 = 125;
/// x86-64 syscall number of `capset`.
pub const CAPSET: u64 = 126;
/// x86-64 syscall number of `rt_sigpending`.
pub const RT_SIGPENDING: u64 = 127;
/// x86-64 syscall number of `rt_sigtimedwait`.
pub const RT_SIGTIMEDWAIT: u64 = 128;
/// x86-64 syscall number of `rt_sigqueueinfo`.
pub const RT_SIGQUEUEINFO: u64 = 129;
/// x86-64 syscall number of `rt_sigsuspend`.
pub const RT_SIGSUSPEND: u64 = 130;
/// x86-64 syscall number of `sigaltstack`.
pub const SIGALTSTACK: u64 = 131;
/// x86-64 syscall number of `utime`.
pub const UTIME: u64 = 132;
/// x86-64 syscall number of `mknod`.
pub const MKNOD: u64 = 133;
/// x86-64 syscall number of `uselib`.
pub const USELIB: u64 = 134;
/// x86-64 syscall number of `personality`.
pub const PERSONALITY: u64 = 135;
/// x86-64 syscall number of `ustat`.
pub const USTAT: u64 = 136;
/// x86-64 syscall number of `statfs`.
pub const STATFS: u64 = 137;
/// x86-64 syscall number of `fstatfs`.
pub const FSTATFS: u64 = 138;
/// x86-64 syscall number of `sysfs`.
pub const SYSFS: u64 = 139;
/// x86-64 syscall number of `getpriority`.
pub const GETPRIORITY: u64 = 140;
/// x86-64 syscall number of `setpriority`.
pub const SETPRIORITY: u64 = 141;
/// x86-64 syscall number of `sched_setparam`.
pub const SCHED_SETPARAM: u64 = 142;
/// x86-64 syscall number of `sched_getparam`.
pub const SCHED_GETPARAM: u64 = 143;
/// x86-64 syscall number of `sched_setscheduler`.
pub const SCHED_SETSCHEDULER: u64 = 144;
/// x86-64 syscall number of `sched_getscheduler`.
pub const SCHED_GETSCHEDULER: u64 = 145;
/// x86-64 syscall number of `sched_get_priority_max`.
pub const SCHED_GET_PRIORITY_MAX: u64 = 146;
/// x86-64 syscall number of `sched_get_priority_min`.
pub const SCHED_GET_PRIORITY_MIN: u64 = 147;
/// x86-64 syscall number of `sched_rr_get_interval`.
pub const SCHED_RR_GET_INTERVAL: u64 = 148;
/// x86-64 syscall number of `mlock`.
pub const MLOCK: u64 = 149;
/// x86-64 syscall number of `munlock`.
pub const MUNLOCK: u64 = 150;
/// x86-64 syscall number of `mlockall`.
pub const MLOCKALL: u64 = 151;
/// x86-64 syscall number of `munlockall`.
pub const MUNLOCKALL: u64 = 152;
/// x86-64 syscall number of `vhangup`.
pub const VHANGUP: u64 = 153;
/// x86-64 syscall number of `modify_ldt`.
pub const MODIFY_LDT: u64 = 154;
/// x86-64 syscall number of `pivot_root`.
pub const PIVOT_ROOT: u64 = 155;
/// x86-64 syscall number of `_sysctl`.
pub const _SYSCTL: u64 = 156;
/// x86-64 syscall number of `prctl`.
pub const PRCTL: u64 = 157;
/// x86-64 syscall number of `arch_prctl`.
pub const ARCH_PRCTL: u64 = 158;
/// x86-64 syscall number of `adjtimex`.
pub const ADJTIMEX: u64 = 159;
/// x86-64 syscall number of `setrlimit`.
pub const SETRLIMIT: u64 = 160;
/// x86-64 syscall number of `chroot`.
pub const CHROOT: u64 = 161;
/// x86-64 syscall number of `sync`.
pub const SYNC: u64 = 162;
/// x86-64 syscall number of `acct`.
pub const ACCT: u64 = 163;
/// x86-64 syscall number of `settimeofday`.
pub const SETTIMEOFDAY: u64 = 164;
/// x86-64 syscall number of `mount`.
pub const MOUNT: u64 = 165;
/// x86-64 syscall number of `umount2`.
pub const UMOUNT2: u64 = 166;
/// x86-64 syscall number of `swapon`.
pub const SWAPON: u64 = 167;
/// x86-64 syscall number of `swapoff`.
pub const SWAPOFF: u64 = 168;
/// x86-64 syscall number of `reboot`.
pub const REBOOT: u64 = 169;
/// x86-64 syscall number of `sethostname`.
pub const SETHOSTNAME: u64 = 170;
/// x86-64 syscall number of `setdomainname`.
pub const SETDOMAINNAME: u64 = 171;
/// x86-64 syscall number of `iopl`.
pub const IOPL: u64 = 172;
/// x86-64 syscall number of `ioperm`.
pub const IOPERM: u64 = 173;
/// x86-64 syscall number of `create_module`.
pub const CREATE_MODULE: u64 = 174;
/// x86-64 syscall number of `init_module`.
pub const INIT_MODULE: u64 = 175;
/// x86-64 syscall number of `delete_module`.
pub const DELETE_MODULE: u64 = 176;
/// x86-64 syscall number of `get_kernel_syms`.
pub const GET_KERNEL_SYMS: u64 = 177;
/// x86-64 syscall number of `query_module`.
pub const QUERY_MODULE: u64 = 178;
/// x86-64 syscall number of `quotactl`.
pub const QUOTACTL: u64 = 179;
/// x86-64 syscall number of `nfsservctl`.
pub const NFSSERVCTL: u64 = 180;
/// x86-64 syscall number of `getpmsg`.
pub const GETPMSG: u64 = 181;
/// x86-64 syscall number of `putpmsg`.
pub const PUTPMSG: u64 = 182;
/// x86-64 syscall number of `afs_syscall`.
pub const AFS_SYSCALL: u64 = 183;
/// x86-64 syscall number of `tuxcall`.
pub const TUXCALL: u64 = 184;
/// x86-64 syscall number of `security`.
pub const SECURITY: u64 = 185;
/// x86-64 syscall number of `gettid`.
pub const GETTID: u64 = 186;
/// x86-64 syscall number of `readahead`.
pub const READAHEAD: u64 = 187;
/// x86-64 syscall number of `setxattr`.
pub const SETXATTR: u64 = 188;
/// x86-64 syscall number of `lsetxattr`.
pub const LSETXATTR: u64 = 189;
/// x86-64 syscall number of `fsetxattr`.
pub const FSETXATTR: u64 = 190;
/// x86-64 syscall number of `getxattr`.
pub const GETXATTR: u64 = 191;
/// x86-64 syscall number of `lgetxattr`.
pub const LGETXATTR: u64 = 192;
/// x86-64 syscall number of `fgetxattr`.
pub const FGETXATTR: u64 = 193;
/// x86-64 syscall number of `listxattr`.
pub const LISTXATTR: u64 = 194;
/// x86-64 syscall number of `llistxattr`.
pub const LLISTXATTR: u64 = 195;
/// x86-64 syscall number of `flistxattr`.
pub const FLISTXATTR: u64 = 196;
/// x86-64 syscall number of `removexattr`.
pub const REMOVEXATTR: u64 = 197;
/// x86-64 syscall number of `lremovexattr`.
pub const LREMOVEXATTR: u64 = 198;
/// x86-64 syscall number of `fremovexattr`.
pub const FREMOVEXATTR: u64 = 199;
/// x86-64 syscall number of `tkill`.
pub const TKILL: u64 = 200;
/// x86-64 syscall number of `time`.
pub const TIME: u64 = 201;
/// x86-64 syscall number of `futex`.
pub const FUTEX: u64 = 202;
/// x86-64 syscall number of `sched_setaffinity`.
pub const SCHED_SETAFFINITY: u64 = 203;
/// x86-64 syscall number of `sched_getaffinity`.
pub const SCHED_GETAFFINITY: u64 = 204;
/// x86-64 syscall number of `set_thread_area`.
pub const SET_THREAD_AREA: u64 = 205;
/// x86-64 syscall number of `io_setup`.
pub const IO_SETUP: u64 = 206;
/// x86-64 syscall number of `io_destroy`.
pub const IO_DESTROY: u64 = 207;
/// x86-64 syscall number of `io_getevents`.
pub const IO_GETEVENTS: u64 = 208;
/// x86-64 syscall number of `io_submit`.
pub const IO_SUBMIT: u64 = 209;
/// x86-64 syscall number of `io_cancel`.
pub const IO_CANCEL: u64 = 210;
/// x86-64 syscall number of `get_thread_area`.
pub const GET_THREAD_AREA: u64 = 211;
/// x86-64 syscall number of `lookup_dcookie`.
pub const LOOKUP_DCOOKIE: u64 = 212;
/// x86-64 syscall number of `epoll_create`.
pub const EPOLL_CREATE: u64 = 213;
/// x86-64 syscall number of `epoll_ctl_old`.
pub const EPOLL_CTL_OLD: u64 = 214;
/// x86-64 syscall number of `epoll_wait_old`.
pub const EPOLL_WAIT_OLD: u64 = 215;
/// x86-64 syscall number of `remap_file_pages`.
pub const REMAP_FILE_PAGES: u64 = 216;
/// x86-64 syscall number of `getdents64`.
pub const GETDENTS64: u64 = 217;
/// x86-64 syscall number of `set_tid_address`.
pub const SET_TID_ADDRESS: u64 = 218;
/// x86-64 syscall number of `restart_syscall`.
pub const RESTART_SYSCALL: u64 = 219;
/// x86-64 syscall number of `semtimedop`.
pub const SEMTIMEDOP: u64 = 220;
/// x86-64 syscall number of `fadvise64`.
pub const FADVISE64: u64 = 221;
/// x86-64 syscall number of `timer_create`.
pub const TIMER_CREATE: u64 = 222;
/// x86-64 syscall number of `timer_settime`.
pub const TIMER_SETTIME: u64 = 223;
/// x86-64 syscall number of `timer_gettime`.
pub const TIMER_GETTIME: u64 = 224;
/// x86-64 syscall number of `timer_getoverrun`.
pub const TIMER_GETOVERRUN: u64 = 225;
/// x86-64 syscall number of `timer_delete`.
pub const TIMER_DELETE: u64 = 226;
/// x86-64 syscall number of `clock_settime`.
pub const CLOCK_SETTIME: u64 = 227;
/// x86-64 syscall number of `clock_gettime`.
pub const CLOCK_GETTIME: u64 = 228;
/// x86-64 syscall number of `clock_getres`.
pub const CLOCK_GETRES: u64 = 229;
/// x86-64 syscall number of `clock_nanosleep`.
pub const CLOCK_NANOSLEEP: u64 = 230;
/// x86-64 syscall number of `exit_group`.
pub const EXIT_GROUP: u64 = 231;
/// x86-64 syscall number of `epoll_wait`.
pub const EPOLL_WAIT: u64 = 232;
/// x86-64 syscall number of `epoll_ctl`.
pub const EPOLL_CTL: u64 = 233;
/// x86-64 syscall number of `tgkill`.
pub const TGKILL: u64 = 234;
/// x86-64 syscall number of `utimes`.
pub const UTIMES: u64 = 235;
/// x86-64 syscall number of `vserver`.
pub const VSERVER: u64 = 236;
/// x86-64 syscall number of `mbind`.
pub const MBIND: u64 = 237;
/// x86-64 syscall number of `set_mempolicy`.
pub const SET_MEMPOLICY: u64 = 238;
/// x86-64 syscall number of `get_mempolicy`.
pub const GET_MEMPOLICY: u64 = 239;
/// x86-64 syscall number of `mq_open`.
pub const MQ_OPEN: u64 = 240;
/// x86-64 syscall number of `mq_unlink`.
pub const MQ_UNLINK: u64 = 241;
/// x86-64 syscall number of `mq_timedsend`.
pub const MQ_TIMEDSEND: u64 = 242;
/// x86-64 syscall number of `mq_timedreceive`.
pub const MQ_TIMEDRECEIVE: u64 = 243;
/// x86-64 syscall number of `mq_notify`.
pub const MQ_NOTIFY: u64 = 244;
/// x86-64 syscall number of `mq_getsetattr`.
pub const MQ_GETSETATTR: u64 = 245;
/// x86-64 syscall number of `kexec_load`.
pub const KEXEC_LOAD: u64 = 246;
/// x86-64 syscall number of `waitid`.
pub const WAITID: u64 = 247;
/// x86-64 syscall number of `add_key`.
pub const ADD_KEY: u64 = 248;
/// x86-64 syscall number of `request_key`.
pub const REQUEST_KEY: u64 = 249;
/// x86-64 syscall number of `keyctl`.
pub const KEYCTL: u64 = 250;
/// x86-64 syscall number of `ioprio_set`.
pub const IOPRIO_SET: u64 = 251;
/// x86-64 syscall number of `ioprio_get`.
pub const IOPRIO_GET: u64 = 252;
/// x86-64 syscall number of `inotify_init`.
pub const INOTIFY_INIT: u64 = 253;
/// x86-64 syscall number of `inotify_add_watch`.
pub const INOTIFY_ADD_WATCH: u64 = 254;
/// x86-64 syscall number of `inotify_rm_watch`.
pub const INOTIFY_RM_WATCH: u64 = 255;
/// x86-64 syscall number of `migrate_pages`.
pub const MIGRATE_PAGES: u64 = 256;
/// x86-64 syscall number of `openat`.
pub const OPENAT: u64 = 257;
/// x86-64 syscall number of `mkdirat`.
pub const MKDIRAT: u64 = 258;
/// x86-64 syscall number of `mknodat`.
pub const MKNODAT: u64 = 259;
/// x86-64 syscall number of `fchownat`.
pub const FCHOWNAT: u64 = 260;
/// x86-64 syscall number of `futimesat`.
pub const FUTIMESAT: u64 = 261;
/// x86-64 syscall number of `newfstatat`.
pub const NEWFSTATAT: u64 = 262;
/// x86-64 syscall number of `unlinkat`.
pub const UNLINKAT: u64 = 263;
/// x86-64 syscall number of `renameat`.
pub const RENAMEAT: u64 = 264;
/// x86-64 syscall number of `linkat`.
pub const LINKAT: u64 = 265;
/// x86-64 syscall number of `symlinkat`.
pub const SYMLINKAT: u64 = 266;
/// x86-64 syscall number of `readlinkat`.
pub const READLINKAT: u64 = 267;
/// x86-64 syscall number of `fchmodat`.
pub const FCHMODAT: u64 = 268;
/// x86-64 syscall number of `faccessat`.
pub const FACCESSAT: u64 = 269;
/// x86-64 syscall number of `pselect6`.
pub const PSELECT6: u64 = 270;
/// x86-64 syscall number of `ppoll`.
pub const PPOLL: u64 = 271;
/// x86-64 syscall number of `unshare`.
pub const UNSHARE: u64 = 272;
/// x86-64 syscall number of `set_robust_list`.
pub const SET_ROBUST_LIST: u64 = 273;
/// x86-64 syscall number of `get_robust_list`.
pub const GET_ROBUST_LIST: u64 = 274;
/// x86-64 syscall number of `splice`.
pub const SPLICE: u64 = 275;
/// x86-64 syscall number of `tee`.
pub const TEE: u64 = 276;
/// x86-64 syscall number of `sync_file_range`.
pub const SYNC_FILE_RANGE: u64 = 277;
/// x86-64 syscall number of `vmsplice`.
pub const VMSPLICE: u64 = 278;
/// x86-64 syscall number of `move_pages`.
pub const MOVE_PAGES: u64 = 279;
/// x86-64 syscall number of `utimensat`.
pub const UTIMENSAT: u64 = 280;
/// x86-64 syscall number of `epoll_pwait`.
pub const EPOLL_PWAIT: u64 = 281;
/// x86-64 syscall number of `signalfd`.
pub const SIGNALFD: u64 = 282;
/// x86-64 syscall number of `timerfd_create`.
pub const TIMERFD_CREATE: u64 = 283;
/// x86-64 syscall number of `eventfd`.
pub const EVENTFD: u64 = 284;
/// x86-64 syscall number of `fallocate`.
pub const FALLOCATE: u64 = 285;
/// x86-64 syscall number of `timerfd_settime`.
pub const TIMERFD_SETTIME: u64 = 286;
/// x86-64 syscall number of `timerfd_gettime`.
pub const TIMERFD_GETTIME: u64 = 287;
/// x86-64 syscall number of `accept4`.
pub const ACCEPT4: u64 = 288;
/// x86-64 syscall number of `signalfd4`.
pub const SIGNALFD4: u64 = 289;
/// x86-64 syscall number of `eventfd2`.
pub const EVENTFD2: u64 = 290;
/// x86-64 syscall number of `epoll_create1`.
pub const EPOLL_CREATE1: u64 = 291;
/// x86-64 syscall number of `dup3`.
pub const DUP3: u64 = 292;
/// x86-64 syscall number of `pipe2`.
pub const PIPE2: u64 = 293;
/// x86-64 syscall number of `inotify_init1`.
pub const INOTIFY_INIT1: u64 = 294;
/// x86-64 syscall number of `preadv`.
pub const PREADV: u64 = 295;
/// x86-64 syscall number of `pwritev`.
pub const PWRITEV: u64 = 296;
/// x86-64 syscall number of `rt_tgsigqueueinfo`.
pub const RT_TGSIGQUEUEINFO: u64 = 297;
/// x86-64 syscall number of `perf_event_open`.
pub const PERF_EVENT_OPEN: u64 = 298;
/// x86-64 syscall number of `recvmmsg`.
pub const RECVMMSG: u64 = 299;
/// x86-64 syscall number of `fanotify_init`.
pub const FANOTIFY_INIT: u64 = 300;
/// x86-64 syscall number of `fanotify_mark`.
pub const FANOTIFY_MARK: u64 = 301;
/// x86-64 syscall number of `prlimit64`.
pub const PRLIMIT64: u64 = 302;
/// x86-64 syscall number of `name_to_handle_at`.
pub const NAME_TO_HANDLE_AT: u64 = 303;
/// x86-64 syscall number of `open_by_handle_at`.
pub const OPEN_BY_HANDLE_AT: u64 = 304;
/// x86-64 syscall number of `clock_adjtime`.
pub const CLOCK_ADJTIME: u64 = 305;
/// x86-64 syscall number of `syncfs`.
pub const SYNCFS: u64 = 306;
/// x86-64 syscall number of `sendmmsg`.
pub const SENDMMSG: u64 = 307;
/// x86-64 syscall number of `setns`.
pub const SETNS: u64 = 308;
/// x86-64 syscall number of `getcpu`.
pub const GETCPU: u64 = 309;
/// x86-64 syscall number of `process_vm_readv`.
pub const PROCESS_VM_READV: u64 = 310;
/// x86-64 syscall number of `process_vm_writev`.
pub const PROCESS_VM_WRITEV: u64 = 311;
/// x86-64 syscall number of `kcmp`.
pub const KCMP: u64 = 312;
/// x86-64 syscall number of `finit_module`.
pub const FINIT_MODULE: u64 = 313;
/// x86-64 syscall number of `sched_setattr`.
pub const SCHED_SETATTR: u64 = 314;
/// x86-64 syscall number of `sched_getattr`.
pub const SCHED_GETATTR: u64 = 315;
/// x86-64 syscall number of `renameat2`.
pub const RENAMEAT2: u64 = 316;
/// x86-64 syscall number of `seccomp`.
pub const SECCOMP: u64 = 317;
/// x86-64 syscall number of `getrandom`.
pub const GETRANDOM: u64 = 318;
/// x86-64 syscall number of `memfd_create`.
pub const MEMFD_CREATE: u64 = 319;
/// x86-64 syscall number of `kexec_file_load`.
pub const KEXEC_FILE_LOAD: u64 = 320;
/// x86-64 syscall number of `bpf`.
pub const BPF: u64 = 321;
/// x86-64 syscall number of `execveat`.
pub const EXECVEAT: u64 = 322;
/// x86-64 syscall number of `userfaultfd`.
pub const USERFAULTFD: u64 = 323;
/// x86-64 syscall number of `membarrier`.
pub const MEMBARRIER: u64 = 324;
/// x86-64 syscall number of `mlock2`.
pub const MLOCK2: u64 = 325;
/// x86-64 syscall number of `copy_file_range`.
pub const COPY_FILE_RANGE: u64 = 326;
/// x86-64 syscall number of `preadv2`.
pub const PREADV2: u64 = 327;
/// x86-64 syscall number of `pwritev2`.
pub const PWRITEV2: u64 = 328;
/// x86-64 syscall number of `pkey_mprotect`.
pub const PKEY_MPROTECT: u64 = 329;
/// x86-64 syscall number of `pkey_alloc`.
pub const PKEY_ALLOC: u64 = 330;
/// x86-64 syscall number of `pkey_free`.
pub const PKEY_FREE: u64 = 331;
/// x86-64 syscall number of `statx`.
pub const STATX: u64 = 332;
/// x86-64 syscall number of `io_pgetevents`.
pub const IO_PGETEVENTS: u64 = 333;
/// x86-64 syscall number of `rseq`.
pub const RSEQ: u64 = 334;
/// x86-64 syscall number of `pidfd_send_signal`.
pub const PIDFD_SEND_SIGNAL: u64 = 424;
/// x86-64 syscall number of `io_uring_setup`.
pub const IO_URING_SETUP: u64 = 425;
/// x86-64 syscall number of `io_uring_enter`.
pub const IO_URING_ENTER: u64 = 426;
/// x86-64 syscall number of `io_uring_register`.
pub const IO_URING_REGISTER: u64 = 427;
/// x86-64 syscall number of `open_tree`.
pub const OPEN_TREE: u64 = 428;
/// x86-64 syscall number of `move_mount`.
pub const MOVE_MOUNT: u64 = 429;
/// x86-64 syscall number of `fsopen`.
pub const FSOPEN: u64 = 430;
/// x86-64 syscall number of `fsconfig`.
pub const FSCONFIG: u64 = 431;
/// x86-64 syscall number of `fsmount`.
pub const FSMOUNT: u64 = 432;
/// x86-64 syscall number of `fspick`.
pub const FSPICK: u64 = 433;
/// x86-64 syscall number of `pidfd_open`.
pub const PIDFD_OPEN: u64 = 434;
/// x86-64 syscall number of `clone3`.
pub const CLONE3: u64 = 435;
/// x86-64 syscall number of `close_range`.
pub const CLOSE_RANGE: u64 = 436;
/// x86-64 syscall number of `openat2`.
pub const OPENAT2: u64 = 437;
/// x86-64 syscall number of `pidfd_getfd`.
pub const PIDFD_GETFD: u64 = 438;
/// x86-64 syscall number of `faccessat2`.
pub const FACCESSAT2: u64 = 439;
/// x86-64 syscall number of `process_madvise`.
pub const PROCESS_MADVISE: u64 = 440;
/// x86-64 syscall number of `epoll_pwait2`.
pub const EPOLL_PWAIT2: u64 = 441;
/// x86-64 syscall number of `mount_setattr`.
pub const MOUNT_SETATTR: u64 = 442;
/// x86-64 syscall number of `quotactl_fd`.
pub const QUOTACTL_FD: u64 = 443;
/// x86-64 syscall number of `landlock_create_ruleset`.
pub const LANDLOCK_CREATE_RULESET: u64 = 444;
/// x86-64 syscall number of `landlock_add_rule`.
pub const LANDLOCK_ADD_RULE: u64 = 445;
/// x86-64 syscall number of `landlock_restrict_self`.
pub const LANDLOCK_RESTRICT_SELF: u64 = 446;
/// x86-64 syscall number of `memfd_secret`.
pub const MEMFD_SECRET: u64 = 447;
/// x86-64 syscall number of `process_mrelease`.
pub const PROCESS_MRELEASE: u64 = 448;
/// x86-64 syscall number of `futex_waitv`.
pub const FUTEX_WAITV: u64 = 449;
/// x86-64 syscall number of `set_mempolicy_home_node`.
pub const SET_MEMPOLICY_HOME_NODE: u64 = 450;

/// Every x86-64 syscall name, indexed by number (`None` for unassigned numbers).
static NAMES: [Option<&str>; 451] = [
    Some("read"),
    Some("write"),
    Some("open"),
    Some("close"),
    Some("stat"),
    Some("fstat"),
    Some("lstat"),
    Some("poll"),
    Some("lseek"),
    Some("mmap"),
    Some("mprotect"),
    Some("munmap"),
    Some("brk"),
    Some("rt_sigaction"),
    Some("rt_sigprocmask"),
    Some("rt_sigreturn"),
    Some("ioctl"),
    Some("pread64"),
    Some("pwrite64"),
    Some("readv"),
    Some("writev"),
    Some("access"),
    Some("pipe"),
    Some("select"),
    Some("sched_yield"),
    Some("mremap"),
    Some("msync"),
    Some("mincore"),
    Some("madvise"),
    Some("shmget"),
    Some("shmat"),
    Some("shmctl"),
    Some("dup"),
    Some("dup2"),
    Some("pause"),
    Some("nanosleep"),
    Some("getitimer"),
    Some("alarm"),
    Some("setitimer"),
    Some("getpid"),
    Some("sendfile"),
    Some("socket"),
    Some("connect"),
    Some("accept"),
    Some("sendto"),
    Some("recvfrom"),
    Some("sendmsg"),
    Some("recvmsg"),
    Some("shutdown"),
    Some("bind"),
    Some("listen"),
    Some("getsockname"),
    Some("getpeername"),
    Some("socketpair"),
    Some("setsockopt"),
    Some("getsockopt"),
    Some("clone"),
    Some("fork"),
    Some("vfork"),
    Some("execve"),
    Some("exit"),
    Some("wait4"),
    Some("kill"),
    Some("uname"),
    Some("semget"),
    Some("semop"),
    Some("semctl"),
    Some("shmdt"),
    Some("msgget"),
    Some("msgsnd"),
    Some("msgrcv"),
    Some("msgctl"),
    Some("fcntl"),
    Some("flock"),
    Some("fsync"),
    Some("fdatasync"),
    Some("truncate"),
    Some("ftruncate"),
    Some("getdents"),
    Some("getcwd"),
    Some("chdir"),
    Some("fchdir"),
    Some("rename"),
    Some("mkdir"),
    Some("rmdir"),
    Some("creat"),
    Some("link"),
    Some("unlink"),
    Some("symlink"),
    Some("readlink"),
    Some("chmod"),
    Some("fchmod"),
    Some("chown"),
    Some("fchown"),
    Some("lchown"),
    Some("umask"),
    Some("gettimeofday"),
    Some("getrlimit"),
    Some("getrusage"),
    Some("sysinfo"),
    Some("times"),
    Some("ptrace"),
    Some("getuid"),
    Some("syslog"),
    Some("getgid"),
    Some("setuid"),
    Some("setgid"),
    Some("geteuid"),
    Some("getegid"),
    Some("setpgid"),
    Some("getppid"),
    Some("getpgrp"),
    Some("setsid"),
    Some("setreuid"),
    Some("setregid"),
    Some("getgroups"),
    Some("setgroups"),
    Some("setresuid"),
    Some("getresuid"),
    Some("setresgid"),
    Some("getresgid"),
    Some("getpgid"),
    Some("setfsuid"),
    Some("setfsgid"),
    Some("getsid"),
    Some("capget"),
    Some("capset"),
    Some("rt_sigpending"),
    Some("rt_sigtimedwait"),
    Some("rt_sigqueueinfo"),
    Some("rt_sigsuspend"),
    Some("sigaltstack"),
    Some("utime"),
    Some("mknod"),
    Some("uselib"),
    Some("personality"),
    Some("ustat"),
    Some("statfs"),
    Some("fstatfs"),
    Some("sysfs"),
    Some("getpriority"),
    Some("setpriority"),
    Some("sched_setparam"),
    Some("sched_getparam"),
    Some("sched_setscheduler"),
    Some("sched_getscheduler"),
    Some("sched_get_priority_max"),
    Some("sched_get_priority_min"),
    Some("sched_rr_get_interval"),
    Some("mlock"),
    Some("munlock"),
    Some("mlockall"),
    Some("munlockall"),
    Some("vhangup"),
    Some("modify_ldt"),
    Some("pivot_root"),
    Some("_sysctl"),
    Some("prctl"),
    Some("arch_prctl"),
    Some("adjtimex"),
    Some("setrlimit"),
    Some("chroot"),
    Some("sync"),
    Some("acct"),
    Some("settimeofday"),
    Some("mount"),
    Some("umount2"),
    Some("swapon"),
    Some("swapoff"),
    Some("reboot"),
    Some("sethostname"),
    Some("setdomainname"),
    Some("iopl"),
    Some("ioperm"),
    Some("create_module"),
    Some("init_module"),
    Some("delete_module"),
    Some("get_kernel_syms"),
    Some("query_module"),
    Some("quotactl"),
    Some("nfsservctl"),
    Some("getpmsg"),
    Some("putpmsg"),
    Some("afs_syscall"),
    Some("tuxcall"),
    Some("security"),
    Some("gettid"),
    Some("readahead"),
    Some("setxattr"),
    Some("lsetxattr"),
    Some("fsetxattr"),
    Some("getxattr"),
    Some("lgetxattr"),
    Some("fgetxattr"),
    Some("listxattr"),
    Some("llistxattr"),
    Some("flistxattr"),
    Some("removexattr"),
    Some("lremovexattr"),
    Some("fremovexattr"),
    Some("tkill"),
    Some("time"),
    Some("futex"),
    Some("sched_setaffinity"),
    Some("sched_getaffinity"),
    Some("set_thread_area"),
    Some("io_setup"),
    Some("io_destroy"),
    Some("io_getevents"),
    Some("io_submit"),
    Some("io_cancel"),
    Some("get_thread_area"),
    Some("lookup_dcookie"),
    Some("epoll_create"),
    Some("epoll_ctl_old"),
    Some("epoll_wait_old"),
    Some("remap_file_pages"),
    Some("getdents64"),
    Some("set_tid_address"),
    Some("restart_syscall"),
    Some("semtimedop"),
    Some("fadvise64"),
    Some("timer_create"),
    Some("timer_settime"),
    Some("timer_gettime"),
    Some("timer_getoverrun"),
    Some("timer_delete"),
    Some("clock_settime"),
    Some("clock_gettime"),
    Some("clock_getres"),
    Some("clock_nanosleep"),
    Some("exit_group"),
    Some("epoll_wait"),
    Some("epoll_ctl"),
    Some("tgkill"),
    Some("utimes"),
    Some("vserver"),
    Some("mbind"),
    Some("set_mempolicy"),
    Some("get_mempolicy"),
    Some("mq_open"),
    Some("mq_unlink"),
    Some("mq_timedsend"),
    Some("mq_timedreceive"),
    Some("mq_notify"),
    Some("mq_getsetattr"),
    Some("kexec_load"),
    Some("waitid"),
    Some("add_key"),
    Some("request_key"),
    Some("keyctl"),
    Some("ioprio_set"),
    Some("ioprio_get"),
    Some("inotify_init"),
    Some("inotify_add_watch"),
    Some("inotify_rm_watch"),
    Some("migrate_pages"),
    Some("openat"),
    Some("mkdirat"),
    Some("mknodat"),
    Some("fchownat"),
    Some("futimesat"),
    Some("newfstatat"),
    Some("unlinkat"),
    Some("renameat"),
    Some("linkat"),
    Some("symlinkat"),
    Some("readlinkat"),
    Some("fchmodat"),
    Some("faccessat"),
    Some("pselect6"),
    Some("ppoll"),
    Some("unshare"),
    Some("set_robust_list"),
    Some("get_robust_list"),
    Some("splice"),
    Some("tee"),
    Some("sync_file_range"),
    Some("vmsplice"),
    Some("move_pages"),
    Some("utimensat"),
    Some("epoll_pwait"),
    Some("signalfd"),
    Some("timerfd_create"),
    Some("eventfd"),
    Some("fallocate"),
    Some("timerfd_settime"),
    Some("timerfd_gettime"),
    Some("accept4"),
    Some("signalfd4"),
    Some("eventfd2"),
    Some("epoll_create1"),
    Some("dup3"),
    Some("pipe2"),
    Some("inotify_init1"),
    Some("preadv"),
    Some("pwritev"),
    Some("rt_tgsigqueueinfo"),
    Some("perf_event_open"),
    Some("recvmmsg"),
    Some("fanotify_init"),
    Some("fanotify_mark"),
    Some("prlimit64"),
    Some("name_to_handle_at"),
    Some("open_by_handle_at"),
    Some("clock_adjtime"),
    Some("syncfs"),
    Some("sendmmsg"),
    Some("setns"),
    Some("getcpu"),
    Some("process_vm_readv"),
    Some("process_vm_writev"),
    Some("kcmp"),
    Some("finit_module"),
    Some("sched_setattr"),
    Some("sched_getattr"),
    Some("renameat2"),
    Some("seccomp"),
    Some("getrandom"),
    Some("memfd_create"),
    Some("kexec_file_load"),
    Some("bpf"),
    Some("execveat"),
    Some("userfaultfd"),
    Some("membarrier"),
    Some("mlock2"),
    Some("copy_file_range"),
    Some("preadv2"),
    Some("pwritev2"),
    Some("pkey_mprotect"),
    Some("pkey_alloc"),
    Some("pkey_free"),
    Some("statx"),
    Some("io_pgetevents"),
    Some("rseq"),
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    Some("pidfd_send_signal"),
    Some("io_uring_setup"),
    Some("io_uring_enter"),
    Some("io_uring_register"),
    Some("open_tree"),
    Some("move_mount"),
    Some("fsopen"),
    Some("fsconfig"),
    Some("fsmount"),
    Some("fspick"),
    Some("pidfd_open"),
    Some("clone3"),
    Some("close_range"),
    Some("openat2"),
    Some("pidfd_getfd"),
    Some("faccessat2"),
    Some("process_madvise"),
    Some("epoll_pwait2"),
    Some("mount_setattr"),
    Some("quotactl_fd"),
    Some("landlock_create_ruleset"),
    Some("landlock_add_rule"),
    Some("landlock_restrict_self"),
    Some("memfd_secret"),
    Some("process_mrelease"),
    Some("futex_waitv"),
    Some("set_mempolicy_home_node"),
];

/// The name of x86-64 syscall `nr`, if it has one.
pub fn name(nr: u64) -> Option<&'static str> {
    NAMES.get(usize::try_from(nr).ok()?).copied().flatten()
}
