# compile/exec/import events and their arguments
import sys, types
from _hook import record, capture
record(["compile", "exec", "code.__new__", "function.__new__", "marshal.", "builtins.", "sys._getframe", "sys.monitoring", "object."])
with capture("compile('x=1','<s>','exec')"):
    c = compile("x=1", "<s>", "exec")
with capture("exec(code)"):
    exec(c, {})
with capture("eval('1+1')"):
    eval("1+1")
with capture("ast.parse('x=1')"):
    import ast; ast.parse("x=1")
with capture("code.replace(co_name='y')"):
    c.replace(co_name="y")
with capture("types.FunctionType(code, {})"):
    types.FunctionType(c, {})
with capture("marshal.loads(marshal.dumps(code))"):
    import marshal; marshal.loads(marshal.dumps(c))
with capture("sys._getframemodulename(0)"):
    sys._getframemodulename(0)
with capture("sys._getframe(0)"):
    sys._getframe(0)
with capture("sys.monitoring.register_callback"):
    M = sys.monitoring
    M.use_tool_id(3, "probe"); M.register_callback(3, M.events.PY_START, lambda *a: None); M.free_tool_id(3)
with capture("t-string (PEP 750) / annotations (PEP 649) / annotationlib"):
    if sys.version_info >= (3, 14):
        exec("name='x'; t = t'hello {name}'\ndef f(a: Undefined) -> int: pass\nimport annotationlib; annotationlib.get_annotations(f, format=annotationlib.Format.FORWARDREF)", {})
