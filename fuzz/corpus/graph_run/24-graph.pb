
L
in0Const*
dtype0*1
value(B&"´'d¿kôå¾Ö­o¿hÄ>Áà1?ä`?
L
in1Const*
dtype0*1
value(B&"®æ>äië>¯O¾/}>Ö%?6É?
L
in2Const*
dtype0*1
value(B&"‡Ÿø¾nû)?Ue?º&î>m A¿ÓŒE¾
7
opPackin0in1in2*
T0*
N*

axis