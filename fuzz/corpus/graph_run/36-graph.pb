
`
in0Const*
dtype0*E
value<B:"0uî:?@@ÓN¬¿IC¿4d{@9P6ÀƒOÀ0µG@!X@yþ™¿ü%¿‚¢h@

opRelu6in0*
T0