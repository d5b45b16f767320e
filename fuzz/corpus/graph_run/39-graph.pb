
`
in0Const*
dtype0*E
value<B:"0kÑ¸?NåOÀ(w@¢½Ô?d{À?A?)'@j/ÀºÕ“?a-#¿ëx@ûF>

opSignin0*
T0