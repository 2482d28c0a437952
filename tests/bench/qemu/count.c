/*
 * A qemu-user plugin for `bench static`: counts the guest instructions a program executes, so
 * that arm64 builds, which valgrind cannot run on an x86_64 machine, are measured in
 * instructions too. Run it as `-plugin count.so,out=FILE`: FILE holds the count so far as eight
 * little-endian bytes, written at every system call and at exit. A Lambda function ends on
 * SIGTERM, and qemu 7.2 runs no plugin's exit callback when a signal ends its guest; the
 * function is then waiting in a system call, so the count of its last one is its total.
 *
 * Debian's qemu-user takes plugins (`-plugin`) but ships neither its sample plugins nor
 * `qemu-plugin.h`: the few declarations of QEMU's plugin API (version 1, QEMU 7.2 and later)
 * this needs are written out below.
 *
 * Each translated block adds its instruction count when it runs, with an atomic add: the
 * function's threads run in parallel under qemu-user, and a plain add would lose counts.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_syscall_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num,
                                              uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                                              uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_syscall_cb_t cb);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t executed;
/* The shared mapping of FILE. */
static volatile uint64_t *published;

static void on_exec(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    __atomic_fetch_add(&executed, (uint64_t)(uintptr_t)userdata, __ATOMIC_RELAXED);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS,
                                         (void *)(uintptr_t)qemu_plugin_tb_n_insns(tb));
}

static void publish(void)
{
    *published = __atomic_load_n(&executed, __ATOMIC_RELAXED);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1,
                       uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7,
                       uint64_t a8)
{
    (void)id, (void)vcpu_index, (void)num, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5,
        (void)a6, (void)a7, (void)a8;
    publish();
}

static void on_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    publish();
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                                int argc, char **argv)
{
    const char *out = NULL;
    int fd;
    void *map;
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            out = argv[i] + 4;
        }
    }
    if (out == NULL) {
        fprintf(stderr, "count.so: give the output file as `-plugin count.so,out=FILE`\n");
        return -1;
    }
    fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, sizeof(uint64_t)) != 0) {
        perror(out);
        return -1;
    }
    map = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        perror(out);
        return -1;
    }
    published = map;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, on_exit, NULL);
    return 0;
}
