
`
in0Const*
dtype0*E
value<B:"0v&˜>'tÀ‡Î'@U§m@šƒ	Àóib>¼€l¿‡Ä¿ònã?À‘¿-–@f‹'À

opErfin0*
T0