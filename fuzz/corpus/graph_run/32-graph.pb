
`
in0Const*
dtype0*E
value<B:"0+…«¾GOC@¡ò`À‘<?UÀÄ„@Ì‘?0´È?l›¾NöA@ rÁ¿X"ý?

opSoftplusin0*
T0