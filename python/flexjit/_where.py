"""Where in the user's Python a translation error happened: the innermost
frame of the mod being traced that is the user's code (not flexjit's, not
PyTorch's torch-function machinery), as `FILE:LINE: error: WHAT`, the source
line, and a hint, like the flex front end's messages (docs/language.md)."""
import linecache
import os
import sys
import threading

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_state = threading.local()


def _torch_dirs():
    """PyTorch's folder, and its nn/attention folder (whose and_masks /
    or_masks are mods in their own right, so their lines are shown)."""
    mod = sys.modules.get("torch")
    if mod is None or not getattr(mod, "__file__", None):
        return None, None
    root = os.path.dirname(os.path.abspath(mod.__file__)) + os.sep
    return root, os.path.join(root, "nn", "attention") + os.sep


def _is_machinery(filename):
    f = os.path.abspath(filename)
    if f.startswith(_PACKAGE):
        return True
    root, attention = _torch_dirs()
    return bool(root) and f.startswith(root) and not f.startswith(attention)


class tracing:
    """Marks the frame that starts tracing `fn`: frames outside it (the
    caller of flex_attention, say) are never blamed."""

    def __init__(self, fn):
        self.fn = fn

    def __enter__(self):
        self.saved = getattr(_state, "root", None)
        _state.root = (sys._getframe(1), self.fn)
        return self

    def __exit__(self, *exc):
        _state.root = self.saved


def _definition(fn):
    code = getattr(fn, "__code__", None)
    if code is None:
        return None, None
    return code.co_filename, code.co_firstlineno


def user_location(frame=None):
    """(filename, line) of the innermost user frame inside the traced mod,
    else the mod's definition; (None, None) when nothing is being traced."""
    root = getattr(_state, "root", None)
    f = frame or sys._getframe(1)
    while f is not None:
        if root is not None and f is root[0]:
            break
        if not _is_machinery(f.f_code.co_filename):
            return f.f_code.co_filename, f.f_lineno
        f = f.f_back
    if root is not None:
        return _definition(root[1])
    return None, None


def render(filename, line, what, hint=None):
    head = "%s:%d: error: %s" % (filename, line, what) if filename else "error: " + what
    lines = [head]
    if filename:
        source = linecache.getline(filename, line).rstrip()
        if source:
            lines.append("    " + source.strip())
    root = getattr(_state, "root", None)
    if root is not None:
        name = getattr(root[1], "__qualname__", None) or repr(root[1])
        dfile, dline = _definition(root[1])
        lines.append("  (while translating the Python mod %s%s to the flex language)"
                     % (name, " defined at %s:%d" % (dfile, dline) if dfile else ""))
    if hint:
        lines.append("hint: " + hint)
    return "\n".join(lines)


def located(what, hint=None):
    """The message of an error at the user's current line."""
    filename, line = user_location(sys._getframe(1))
    return render(filename, line, what, hint)


def located_at_traceback(tb, what, hint=None):
    """The message of an error raised by the user's code (innermost user
    frame of the traceback)."""
    filename = line = None
    while tb is not None:
        if not _is_machinery(tb.tb_frame.f_code.co_filename):
            filename, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    if filename is None:
        root = getattr(_state, "root", None)
        if root is not None:
            filename, line = _definition(root[1])
    return render(filename, line, what, hint)
