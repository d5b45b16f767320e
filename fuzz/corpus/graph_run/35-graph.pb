
`
in0Const*
dtype0*E
value<B:"0<˜Àªåa>¶µ(@o‰Q¿¸6oÀ¡„>Àï*@}C¿;
t@Yc@0@>®ÓBÀ

opTanhin0*
T0