
h
in0Const*
dtype0*M
valueDBB"0£ª¯¾•Ès=å–—=Š){?€ãA¿‰Ò¾	À8?ì+Q¿^À©=A‚˜¾'0—>¦D?
1
opUnpackin0*
T0*	
num*

axis