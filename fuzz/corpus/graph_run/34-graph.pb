
`
in0Const*
dtype0*E
value<B:"0'‹•?è'0@Š@bý@žYá»ÿ|s@ªèÀ3®:?NR ?C†W¿›uû¾´gâ¾

opSigmoidin0*
T0