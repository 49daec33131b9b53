# gort-gdb.py - gdb commands for programs that use gort.
#
#   (gdb) source /usr/share/gort/gort-gdb.py     (or where gort installed it)
#   (gdb) info goroutines          every live goroutine: id, state, where
#   (gdb) goroutine 17 bt          the backtrace of goroutine 17
#
# Goroutines live in stack slabs (src/stack.c); each slot whose state byte
# says "in use" holds a goroutine descriptor at the top of its stack.  A
# goroutine that is not running has its registers saved on its own stack
# (src/layout.h, GORT_CTX_*): `goroutine N bt` loads them into the selected
# thread for the time of one `bt` and puts the thread's own back.
# Needs a build with debug info (the default: -g).

import gdb

CTX_R15, CTX_R14, CTX_R13, CTX_R12, CTX_RBX, CTX_RBP, CTX_PC = 8, 16, 24, 32, 40, 48, 56
CTX_SIZE = 64
SLOT_INUSE = 1
STATES = {0: "idle", 1: "runnable", 2: "running", 3: "waiting", 4: "dead", 5: "in foreign call"}


def _static(name):
    sym = gdb.lookup_static_symbol(name)
    if sym is None:
        sym = gdb.lookup_global_symbol(name)
    if sym is None:
        raise gdb.GdbError("gort: symbol %s not found (is the program built with gort and -g?)" % name)
    return sym.value()


def goroutines():
    """Yield every live goroutine descriptor (gdb.Value of gort_g *)."""
    gtype = gdb.lookup_type("gort_g")
    cls = _static("classes")
    while int(cls) != 0:
        slot_size = int(cls["slot_size"])
        slab = cls["slabs"]
        while int(slab) != 0:
            base = int(slab["base"])
            for i in range(int(slab["nused"])):
                if int(slab["state"][i]) != SLOT_INUSE:
                    continue
                top = base + (i + 1) * slot_size
                addr = (top - gtype.sizeof) & ~63
                yield gdb.Value(addr).cast(gtype.pointer())
            slab = slab["next"]
        cls = cls["next"]


def _reason(g):
    st = int(g["status"])
    if st == 3 and int(g["waitreason"]) != 0:
        return g["waitreason"].string()
    return STATES.get(st, "?")


def _find(goid):
    for g in goroutines():
        if int(g["id"]) == goid:
            return g
    raise gdb.GdbError("gort: no goroutine %d" % goid)


def _where(g):
    sp = int(g["sp"])
    if sp == 0 or int(g["status"]) == 2:
        return "(running)"
    pc = int(gdb.parse_and_eval("*(unsigned long *)%d" % (sp + CTX_PC)))
    block = gdb.block_for_pc(pc)
    while block is not None and block.function is None:
        block = block.superblock
    return "%#x in %s" % (pc, block.function.name if block is not None and block.function else "??")


class InfoGoroutines(gdb.Command):
    """List gort's goroutines: info goroutines"""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        cur = None
        try:
            cur = int(gdb.parse_and_eval("gort_tls_g"))
        except gdb.error:
            pass
        for g in goroutines():
            mark = "*" if cur is not None and int(g) == cur else " "
            gdb.write("%s goroutine %d [%s] %s\n" % (mark, int(g["id"]), _reason(g), _where(g)))


REGS = ["rsp", "rip", "rbp", "rbx", "r12", "r13", "r14", "r15"]


class GoroutineCmd(gdb.Command):
    """Run a command as if goroutine N were on the CPU: goroutine N bt"""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        parts = arg.split(None, 1)
        if len(parts) != 2:
            raise gdb.GdbError("usage: goroutine ID COMMAND (e.g. goroutine 17 bt)")
        g = _find(int(parts[0]))
        if int(g["status"]) == 2:
            gdb.write("goroutine %d is running on a thread: use `thread apply all %s`\n"
                      % (int(g["id"]), parts[1]))
            return
        sp = int(g["sp"])
        if sp == 0:
            raise gdb.GdbError("gort: goroutine %d has no saved context" % int(g["id"]))

        def word(off):
            return int(gdb.parse_and_eval("*(unsigned long *)%d" % (sp + off)))

        saved = {r: int(gdb.parse_and_eval("$" + r)) for r in REGS}
        new = {"rsp": sp + CTX_SIZE, "rip": word(CTX_PC), "rbp": word(CTX_RBP),
               "rbx": word(CTX_RBX), "r12": word(CTX_R12), "r13": word(CTX_R13),
               "r14": word(CTX_R14), "r15": word(CTX_R15)}
        gdb.execute("select-frame 0", to_string=True)
        try:
            for r, v in new.items():
                gdb.execute("set $%s = %d" % (r, v))
            gdb.execute(parts[1], from_tty)
        finally:
            gdb.execute("select-frame 0", to_string=True)
            for r, v in saved.items():
                gdb.execute("set $%s = %d" % (r, v))


InfoGoroutines()
GoroutineCmd()
